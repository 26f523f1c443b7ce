"""The loop the seed describes, through the same stand-ins: the baseline of every figure.

Query the unsent rows; then, for each row, send one email and run one UPDATE, each waiting for
the previous. It is given the same help as ours where that is free (WaitTimeSeconds on every
statement, so no DescribeStatement polling), and does no validation and no templating, so its
CPU cost is below ours: what differs is the number and order of round trips.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.warehouse import TABLES
from handlers.bootstrap import LOCAL_TARGET

WAIT_SECONDS = 20
SENDER = "Card Security <alerts@bank.example>"


@dataclass(frozen=True, slots=True)
class NaiveRun:
    """What one naive drain did and how long its parts took."""

    sent: int
    query_seconds: float
    loop_seconds: float

    @property
    def seconds_per_alert(self) -> float:
        return self.loop_seconds / self.sent if self.sent else 0.0

    def extrapolated_seconds(self, alerts: int) -> float:
        """The time to drain `alerts`: the loop is strictly sequential, so it scales linearly."""
        return self.query_seconds + alerts * self.seconds_per_alert


def naive_drain(client: Any, ses: Any, *, limit: int | None = None) -> NaiveRun:
    """Drain (up to `limit`) unsent rows of `predicted_fraud` one row at a time."""
    started = time.perf_counter()
    rows = unsent_rows(client, limit)
    queried = time.perf_counter()

    for transaction_id, recipient, amount, currency, merchant in rows:
        ses.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": [recipient]},
            Content={
                "Simple": {
                    "Subject": {"Data": "Did you make this card payment?"},
                    "Body": {"Text": {"Data": f"{amount} {currency} at {merchant}"}},
                }
            },
        )
        client.execute_statement(
            Sql=f"UPDATE {TABLES.alerts} SET email_sent = TRUE WHERE transaction_id = :id",
            Parameters=[{"name": "id", "value": transaction_id}],
            WaitTimeSeconds=WAIT_SECONDS,
            **LOCAL_TARGET.request_fields(),
        )
    finished = time.perf_counter()
    return NaiveRun(len(rows), queried - started, finished - queried)


def unsent_rows(client: Any, limit: int | None = None) -> list[tuple[str, ...]]:
    """The seed's first step: every unsent row, read into one list."""
    sql = (
        "SELECT transaction_id, customer_email, amount, currency, merchant_name"
        f" FROM {TABLES.alerts} WHERE COALESCE(email_sent, FALSE) = FALSE"
        " ORDER BY predicted_at"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    submitted = client.execute_statement(
        Sql=sql, WaitTimeSeconds=WAIT_SECONDS, **LOCAL_TARGET.request_fields()
    )

    rows: list[tuple[str, ...]] = []
    request: dict[str, Any] = {"Id": submitted["Id"]}
    while True:
        page = client.get_statement_result(**request)
        rows.extend(tuple(_text(field) for field in record) for record in page["Records"])
        if not page.get("NextToken"):
            return rows
        request["NextToken"] = page["NextToken"]


def _text(field: dict[str, Any]) -> str:
    return "" if field.get("isNull") else str(next(iter(field.values())))
