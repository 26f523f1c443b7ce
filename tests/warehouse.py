"""An embedded warehouse for tests: DuckDB behind the Data API stand-in, with our real SQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.local_warehouse.data_api import LocalDataApiClient
from adapters.local_warehouse.loader import create_alerts_table
from adapters.redshift.alert_source import DeliveryPolicy, RedshiftDataAlertSource
from adapters.redshift.data_api import StatementRunner
from adapters.redshift.migrations import apply_migrations
from adapters.redshift.queries import TABLE_COLUMNS
from adapters.redshift.tables import TableNames
from domain.ports import Clock, Deadline
from handlers.bootstrap import LOCAL_TARGET

TABLES = TableNames("predicted_fraud", "fraud_alert_delivery")
COLUMNS = TABLE_COLUMNS


class TestWarehouse:
    """One database per test; `source()` builds the production adapter over it."""

    __test__ = False

    def __init__(self, path: Path | str, clock: Clock, **client_options: Any) -> None:
        self.clock = clock
        self.client = LocalDataApiClient(path, clock=clock, **client_options)
        create_alerts_table(self.client, TABLES.alerts)
        apply_migrations(self.runner(), TABLES, Deadline(clock, None))

    def runner(self) -> StatementRunner:
        return StatementRunner(self.client, LOCAL_TARGET, self.clock, wait_seconds=0)

    def source(
        self,
        deadline: Deadline | None = None,
        policy: DeliveryPolicy = DeliveryPolicy.AT_LEAST_ONCE,
    ) -> RedshiftDataAlertSource:
        return RedshiftDataAlertSource(
            self.runner(),
            TABLES,
            deadline=deadline or Deadline(self.clock, None),
            policy=policy,
            clock=self.clock,
        )

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> None:
        placeholders = ", ".join(f":{column}" for column in COLUMNS)
        sql = f"INSERT INTO {TABLES.alerts} ({', '.join(COLUMNS)}) VALUES ({placeholders})"
        for row in rows:
            self.client.query_local(sql, {column: row.get(column) for column in COLUMNS})

    def delivery(self) -> dict[str, dict[str, Any]]:
        names = ("alert_key", "state", "claim_token", "message_id", "reason", "deferrals")
        rows = self.client.query_local(f"SELECT {', '.join(names)} FROM {TABLES.delivery}")
        return {row[0]: dict(zip(names, row, strict=True)) for row in rows}

    def email_sent(self) -> dict[str, bool]:
        rows = self.client.query_local(
            f"SELECT transaction_id, BOOL_AND(COALESCE(email_sent, FALSE)) FROM {TABLES.alerts}"
            " GROUP BY transaction_id"
        )
        return {row[0]: bool(row[1]) for row in rows}


def model_row(transaction_id: str | None, **overrides: Any) -> dict[str, Any]:
    """One `predicted_fraud` row, valid unless told otherwise."""
    row: dict[str, Any] = {
        "transaction_id": transaction_id,
        "customer_id": "cust-1",
        "customer_email": f"{transaction_id or 'anon'}@example.com",
        "customer_name": "Jane Doe",
        "card_last4": "4242",
        "amount": Decimal("12.34"),
        "currency": "EUR",
        "merchant_name": "Example Shop",
        "transaction_time": datetime(2026, 11, 30, 10, 45, 25),
        "fraud_score": 0.91,
        "model_version": "fraud-xgb-2026.12",
        "predicted_at": datetime(2026, 11, 30, 10, 48, 59),
        "email_sent": False,
    }
    row.update(overrides)
    return row
