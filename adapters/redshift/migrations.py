"""Apply fraud-alerts' own schema (the SQL files beside this module) through the Data API.

Each file is idempotent (`CREATE TABLE IF NOT EXISTS`), so applying them again changes nothing.
"""

from __future__ import annotations

import uuid
from importlib import resources

from adapters.observability import logger
from adapters.redshift.data_api import StatementRunner, client_token
from adapters.redshift.tables import TableNames
from domain.ports import Deadline


def migration_files() -> list[tuple[str, str]]:
    """(name, Redshift SQL template) for every migration, in order."""
    folder = resources.files("adapters.redshift") / "sql"
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name, (folder / name).read_text(encoding="utf-8")) for name in names]


def apply_migrations(runner: StatementRunner, tables: TableNames, deadline: Deadline) -> list[str]:
    """Run every migration in order; return the names applied."""
    # A fresh token per apply: retries of one call collapse, but a later apply really runs.
    nonce = uuid.uuid4().hex
    applied = []
    for name, template in migration_files():
        sql = template.format(delivery=tables.delivery, alerts=tables.alerts)
        runner.run(
            [sql],
            {},
            name=f"fraud-alerts:migrate:{name}",
            token=client_token("migrate", name, nonce),
            deadline=deadline,
        )
        logger.info("migration_applied", extra={"migration": name})
        applied.append(name)
    return applied
