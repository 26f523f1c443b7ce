"""The ports of fraud-alerts: what the sweep needs from the world, in the domain's words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from domain.alert import AlertRow
from domain.outcomes import Delivery


@dataclass(frozen=True, slots=True)
class Claim:
    """A lease on up to `limit` pending alerts, held under `token` until `lease_until`."""

    token: str
    limit: int
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Counts per delivery state and the signals that something is stuck."""

    pending: int
    claimed: int
    sent: int
    rejected: int
    unknown: int
    expired_claims: int
    deferred_too_often: int
    oldest_pending_age_seconds: float | None
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    duplicate_rows: int = 0
    already_sent_rows: int = 0


class AlertSource(Protocol):
    """Where alerts come from and where their outcomes are recorded.

    Implementations must make `claim` exclusive (two open claims never share an alert) and
    `record` atomic per batch and idempotent (recording the same outcomes twice is harmless).
    A claim whose lease expires returns its alerts to the pool, or parks them as `unknown`
    under the at-most-once policy.
    """

    def claim(self, claim: Claim, now: datetime, *, register_new: bool = False) -> list[AlertRow]:
        """Take a lease on a batch of pending alerts and return one row per claimed alert.

        With `register_new`, first register the transactions the model flagged since the last
        run (one alert per transaction; rows without an id rejected), in the same transaction.
        """
        ...

    def record(self, claim: Claim, deliveries: Sequence[Delivery], now: datetime) -> None:
        """Commit the outcomes of one claimed batch in a single transaction."""
        ...

    def status(self, now: datetime, max_deferrals: int) -> StatusReport:
        """Count alerts per state and report expired claims and old pending work."""
        ...


@dataclass(frozen=True, slots=True)
class OutboundEmail:
    """One rendered message for one recipient; `tags` are safe, non-personal labels."""

    alert_key: str
    recipient: str
    message: EmailMessage
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MailerReport:
    """One delivery per email handed to the mailer, in any order.

    `halt` names why the run must stop sending (the account is paused, the daily quota is
    spent); every email not accepted by then is Deferred, never reported as Sent. `throttled`
    counts the throttling responses the provider gave during the batch (retries included).
    """

    deliveries: list[Delivery]
    halt: str | None = None
    throttled: int = 0


class Mailer(Protocol):
    """Sends rendered emails, one recipient each, within the provider's rate and quota."""

    def send(self, emails: Sequence[OutboundEmail], deadline: Deadline) -> MailerReport:
        """Send a batch; return exactly one delivery per email. Never raises for one message."""
        ...


class Clock(Protocol):
    """Wall time for records, monotonic time for deadlines and pacing."""

    def now(self) -> datetime:
        """The current time in UTC, naive (the warehouse stores timestamps without a zone)."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Deadline:
    """The time left to this run, read from a clock (in Lambda: the invocation's deadline)."""

    def __init__(
        self, clock: Clock, seconds: float | None, *, parent: Deadline | None = None
    ) -> None:
        self._clock = clock
        self._expires_at = None if seconds is None else clock.monotonic() + seconds
        self._parent = parent

    def remaining(self) -> float:
        """Seconds left; infinity when the run has no deadline (the CLI)."""
        own = (
            float("inf") if self._expires_at is None else self._expires_at - self._clock.monotonic()
        )
        return own if self._parent is None else min(own, self._parent.remaining())

    def within(self, seconds: float) -> Deadline:
        """A deadline `seconds` from now that also ends when this one does (or is cut short)."""
        return Deadline(self._clock, seconds, parent=self)

    def cut_short(self) -> None:
        """End now: the run stops sending and records what it has (the CLI's Ctrl-C)."""
        self._expires_at = self._clock.monotonic()

    def allows(self, seconds: float) -> bool:
        """Whether `seconds` of work still fit before the deadline."""
        return self.remaining() > seconds
