"""What happened to one alert in one batch: sent, rejected or deferred."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RejectReason(StrEnum):
    """Why an alert will never be emailed. Stable values: they are stored and counted."""

    MISSING_TRANSACTION_ID = "missing_transaction_id"
    MISSING_EMAIL = "missing_email"
    INVALID_EMAIL = "invalid_email"
    MULTIPLE_ADDRESSES = "multiple_addresses"
    UNSUPPORTED_EMAIL = "unsupported_email"
    MISSING_AMOUNT = "missing_amount"
    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_CURRENCY = "unknown_currency"
    AMOUNT_PRECISION = "amount_precision"
    ROW_VANISHED = "row_vanished"
    UNRENDERABLE = "unrenderable"
    MAILER_REJECTED = "mailer_rejected"


class DeferReason(StrEnum):
    """Why an alert goes back to the pool to be tried by a later run."""

    THROTTLED = "throttled"
    TRANSIENT_FAILURE = "transient_failure"
    DEADLINE = "deadline"
    DAILY_QUOTA = "daily_quota"
    SENDING_HALTED = "sending_halted"


@dataclass(frozen=True, slots=True)
class Sent:
    """The mailer accepted the message and gave it this id."""

    alert_key: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """The alert can never be emailed as it stands; `detail` is safe to store (no PII)."""

    alert_key: str
    reason: RejectReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not sent this time; the alert returns to the pool."""

    alert_key: str
    reason: DeferReason
    detail: str = ""


Delivery = Sent | Rejected | Deferred
