"""Test doubles for the ports, shared by every test tier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from domain.alert import AlertRow
from domain.outcomes import Delivery, Rejected, RejectReason, Sent
from domain.ports import (
    Claim,
    Deadline,
    MailerReport,
    OutboundEmail,
    StatusReport,
)


class FakeClock:
    """A clock that only moves when told to; `sleep` advances it instead of waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 30, 14, 0, 0)
        self._monotonic = 1000.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> None:
        self._monotonic += seconds
        self._now += timedelta(seconds=seconds)


class InMemoryAlertSource:
    """The claim protocol of `AlertSource` over dicts: the same rules as the SQL, no engine.

    The contract test (tests/integration/test_alert_source_contract.py) runs the same checks on
    this fake and on the Redshift adapter, so the two cannot drift apart.
    """

    def __init__(self, rows: list[AlertRow] | None = None) -> None:
        self.rows: list[AlertRow] = list(rows or [])
        self.email_sent: set[str] = set()
        self.state: dict[str, dict[str, object]] = {}

    def add(self, *rows: AlertRow) -> None:
        self.rows.extend(rows)

    def _register(self) -> None:
        for row in self.rows:
            if row.transaction_id and row.transaction_id not in self.state:
                if row.transaction_id in self.email_sent:
                    continue
                self.state[row.transaction_id] = {"state": "pending", "token": None, "until": None}

    def claim(self, claim: Claim, now: datetime, *, register_new: bool = False) -> list[AlertRow]:
        if register_new:
            self._register()
        free = [
            key
            for key, entry in self.state.items()
            if entry["state"] == "pending" or (entry["state"] == "claimed" and entry["until"] < now)  # type: ignore[operator]
        ]
        taken = free[: claim.limit]
        for key in taken:
            self.state[key].update(state="claimed", token=claim.token, until=claim.lease_until)
        latest = {row.transaction_id: row for row in self.rows}
        return [replace(latest[key], alert_key=key) for key in taken]

    def record(self, claim: Claim, deliveries: Sequence[Delivery], now: datetime) -> None:
        for delivery in deliveries:
            entry = self.state[delivery.alert_key]
            if isinstance(delivery, Sent):
                entry.update(state="sent", token=None, message_id=delivery.message_id)
                self.email_sent.add(delivery.alert_key)
            elif entry["token"] == claim.token:
                new_state = "rejected" if isinstance(delivery, Rejected) else "pending"
                entry.update(state=new_state, token=None, reason=delivery.reason.value)

    def status(self, now: datetime, max_deferrals: int) -> StatusReport:
        def count(state: str) -> int:
            return sum(1 for entry in self.state.values() if entry["state"] == state)

        return StatusReport(
            pending=count("pending"),
            claimed=count("claimed"),
            sent=count("sent"),
            rejected=count("rejected"),
            unknown=count("unknown"),
            expired_claims=0,
            deferred_too_often=0,
            oldest_pending_age_seconds=None,
        )


class InMemoryMailer:
    """Accepts every email (or the ones `refuse` names) and keeps what it sent."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.sent: list[OutboundEmail] = []
        self._refuse = refuse or set()

    def send(self, emails: Sequence[OutboundEmail], deadline: Deadline) -> MailerReport:
        deliveries: list[Delivery] = []
        for email in emails:
            if email.recipient in self._refuse:
                deliveries.append(Rejected(email.alert_key, RejectReason.MAILER_REJECTED, "test"))
                continue
            self.sent.append(email)
            deliveries.append(Sent(email.alert_key, f"msg-{len(self.sent)}"))
        return MailerReport(deliveries)


def alert_row(transaction_id: str | None = "txn-1", **overrides: object) -> AlertRow:
    """A valid row unless told otherwise."""
    values: dict[str, object] = {
        "alert_key": transaction_id or "row:missing",
        "transaction_id": transaction_id,
        "customer_id": "cust-1",
        "customer_email": "jane.doe@example.com",
        "customer_name": "Jane Doe",
        "card_last4": "4242",
        "amount": Decimal("123.45"),
        "currency": "EUR",
        "merchant_name": "Example Shop",
        "transaction_time": datetime(2026, 11, 30, 10, 45, 25),
        "fraud_score": 0.93,
        "model_version": "fraud-xgb-2026.12",
        "predicted_at": datetime(2026, 11, 30, 10, 48, 59),
    }
    values.update(overrides)
    return AlertRow(**values)  # type: ignore[arg-type]


def register(source: object, now: datetime) -> None:
    """Register newly flagged alerts without claiming any: a claim of none that registers."""
    source.claim(Claim("register-only", 0, now), now, register_new=True)  # type: ignore[attr-defined]
