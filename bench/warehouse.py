"""The embedded warehouse (DuckDB behind the Data API stand-in), filled with pending alerts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adapters.clock import SystemClock
from adapters.local_warehouse.data_api import LocalDataApiClient
from adapters.local_warehouse.loader import create_alerts_table
from adapters.redshift.data_api import StatementRunner
from adapters.redshift.migrations import apply_migrations
from adapters.redshift.tables import TableNames
from domain.ports import Deadline
from handlers.bootstrap import LOCAL_TARGET

TABLES = TableNames("predicted_fraud", "fraud_alert_delivery")

# The operations that submit a statement: only these carry the statement's run time.
SUBMITTING = frozenset({"ExecuteStatement", "BatchExecuteStatement"})


class StatementLatency:
    """`latency` for the stand-in: `seconds` for every statement to finish; reads are instant."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, operation: str) -> float:
        return self.seconds if operation in SUBMITTING else 0.0


@contextmanager
def warehouse(
    alerts: int,
    *,
    statement_seconds: float = 0.0,
    max_retained_statements: int | None = None,
) -> Iterator[LocalDataApiClient]:
    """An in-memory warehouse holding `alerts` pending, valid, distinct flagged transactions.

    Rows are made by DuckDB itself (generating 100,000 rows with Faker would take minutes), all
    valid and distinct: what is measured is the pipeline, not the data's mess (the CPU figure
    uses the shared, messy sample). The schema is created with no latency; `calls` is reset.
    """
    latency = StatementLatency(0.0)
    client = LocalDataApiClient(
        ":memory:",
        clock=SystemClock(),
        latency=latency,
        max_retained_statements=max_retained_statements,
    )
    try:
        _create_schema(client)
        fill(client, alerts)
        latency.seconds = statement_seconds
        client.calls.clear()
        yield client
    finally:
        client.close()


def fill(client: LocalDataApiClient, alerts: int, first: int = 0) -> None:
    """Insert `alerts` flagged transactions numbered from `first`, none emailed yet."""
    with client.transaction() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {TABLES.alerts}
            SELECT 'txn-' || lpad(CAST(i AS VARCHAR), 8, '0'),
                   'cust-' || CAST(i % 5000 AS VARCHAR),
                   'customer' || CAST(i AS VARCHAR) || '@example.com',
                   'Jane Doe ' || CAST(i % 97 AS VARCHAR),
                   lpad(CAST(i % 10000 AS VARCHAR), 4, '0'),
                   CAST(12.34 AS DECIMAL(18, 2)) + (i % 1000),
                   'EUR',
                   'Example Shop ' || CAST(i % 31 AS VARCHAR),
                   TIMESTAMP '2026-11-30 08:00:00' + to_seconds(i),
                   0.9,
                   'fraud-xgb-2026.12',
                   TIMESTAMP '2026-11-30 08:05:00' + to_seconds(i),
                   FALSE
            FROM range($first, $last) AS r(i)
            """,
            {"first": first, "last": first + alerts},
        )


def _create_schema(client: LocalDataApiClient) -> None:
    clock = SystemClock()
    create_alerts_table(client, TABLES.alerts)
    runner = StatementRunner(client, LOCAL_TARGET, clock, wait_seconds=0)  # type: ignore[arg-type]
    apply_migrations(runner, TABLES, Deadline(clock, None))
