"""An alert: one transaction the fraud model flagged, as the warehouse holds it and as sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One claimed row of `predicted_fraud`, exactly as read: any field may be missing or messy.

    `alert_key` identifies the alert in fraud-alerts' own bookkeeping; it equals the
    transaction id whenever the row has one.
    """

    alert_key: str
    transaction_id: str | None
    customer_id: str | None
    customer_email: str | None
    customer_name: str | None
    card_last4: str | None
    amount: Decimal | None
    currency: str | None
    merchant_name: str | None
    transaction_time: datetime | None
    fraud_score: float | None
    model_version: str | None
    predicted_at: datetime | None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class Alert:
    """A validated alert, ready to render: the address is normalised and deliverable."""

    alert_key: str
    transaction_id: str
    recipient: str
    customer_name: str | None
    card_last4: str | None
    amount: Decimal
    currency: str
    merchant_name: str | None
    transaction_time: datetime | None
