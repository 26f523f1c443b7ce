"""The production alert source: `predicted_fraud` and the delivery table, through the Data API."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from adapters.observability import logger
from adapters.redshift.data_api import (
    DataApiUnavailableError,
    FinishedStatement,
    ResultExpiredError,
    StatementFailedError,
    StatementRunner,
    client_token,
)
from adapters.redshift.fields import FieldValue
from adapters.redshift.queries import BoundSql, LedgerSql
from adapters.redshift.tables import TableNames
from domain.alert import AlertRow
from domain.outcomes import Delivery
from domain.ports import Claim, Clock, Deadline, StatusReport

T = TypeVar("T")

STATEMENT_NAME_PREFIX = "fraud-alerts:"


class DeliveryPolicy(StrEnum):
    """What happens to an alert whose run may have sent it but died before recording it."""

    AT_LEAST_ONCE = "at_least_once"
    AT_MOST_ONCE = "at_most_once"


class RedshiftDataAlertSource:
    """`AlertSource` over the Redshift Data API (or the local stand-in of its client).

    Every write is a single BatchExecuteStatement, which Redshift runs as one transaction. A write
    that fails (serializable isolation, error 1023; a statement FAILED; the Data API refusing) is
    retried with a fresh ClientToken: each write is idempotent, so a retry never re-sends anything.

    Build one instance per run. Each instance adds its own `instance` tag to the claim tokens it
    stores and to its ClientTokens, so two runs never share a claim or a replayed statement even
    when their run ids are equal (Lambda keeps the request id when it retries an invocation).
    """

    def __init__(
        self,
        runner: StatementRunner,
        tables: TableNames,
        *,
        deadline: Deadline,
        policy: DeliveryPolicy = DeliveryPolicy.AT_LEAST_ONCE,
        clock: Clock,
        max_attempts: int = 5,
        instance: str | None = None,
    ) -> None:
        self._instance = instance or uuid.uuid4().hex[:12]
        self._runner = runner
        self._sql = LedgerSql(tables)
        self._deadline = deadline
        self._policy = policy
        self._clock = clock
        self._max_attempts = max_attempts

    def claim(self, claim: Claim, now: datetime, *, register_new: bool = False) -> list[AlertRow]:
        token = self._stored_token(claim)
        bound = self._sql.claim(
            token,
            claim.limit,
            _timestamp(now),
            _timestamp(claim.lease_until),
            park_expired=self._policy is DeliveryPolicy.AT_MOST_ONCE,
            register_new=register_new,
        )
        statement = self._write(bound, "claim", token)
        try:
            rows = [_alert_row(record) for record in self._rows(statement)]
        except ResultExpiredError:
            reread = self._sql.claimed_rows(token)
            statement = self._write(reread, "reread", token)
            rows = [_alert_row(record) for record in self._rows(statement)]

        logger.info("batch_claimed", extra={"claim_token": token, "alerts": len(rows)})
        return rows

    def record(self, claim: Claim, deliveries: Sequence[Delivery], now: datetime) -> None:
        if not deliveries:
            return
        token = self._stored_token(claim)
        bound = self._sql.record(token, deliveries, _timestamp(now))
        self._write(bound, "record", token)
        logger.info("batch_recorded", extra={"claim_token": token, "outcomes": len(deliveries)})

    def status(self, now: datetime, max_deferrals: int) -> StatusReport:
        bound = self._sql.status(_timestamp(now), max_deferrals)
        statement = self._write(bound, "status", self._instance, _timestamp(now))
        by_state = list(self._rows(statement))
        model = next(self._runner.records(f"{statement.statement_id}:2"), {})
        return _status_report(by_state, model, now)

    def _stored_token(self, claim: Claim) -> str:
        return f"{claim.token}@{self._instance}"

    def _write(self, bound: BoundSql, purpose: str, *identity: str) -> FinishedStatement:
        def attempt(number: int) -> FinishedStatement:
            return self._runner.run(
                bound.sqls,
                bound.parameters,
                name=f"{STATEMENT_NAME_PREFIX}{purpose}",
                token=client_token(purpose, *identity, str(number)),
                deadline=self._deadline,
                result_index=bound.result_index,
            )

        return _retry(attempt, self._clock, self._deadline, self._max_attempts, purpose)

    def _rows(self, statement: FinishedStatement) -> Iterator[dict[str, FieldValue]]:
        if statement.result_id is None:
            return iter(())
        return self._runner.records(statement.result_id)


def _retry(
    attempt: Callable[[int], T], clock: Clock, deadline: Deadline, max_attempts: int, purpose: str
) -> T:
    number = 0

    def once() -> T:
        nonlocal number
        number += 1
        return attempt(number)

    retrying = Retrying(
        retry=retry_if_exception_type((StatementFailedError, DataApiUnavailableError)),
        wait=wait_random_exponential(multiplier=0.5, max=8),
        stop=stop_after_attempt(max_attempts) | _OutOfTime(deadline),
        sleep=clock.sleep,
        before_sleep=lambda state: logger.warning(
            "warehouse_write_retry",
            extra={"purpose": purpose, "attempt": state.attempt_number},
        ),
        reraise=True,
    )
    return retrying(once)


class _OutOfTime(stop_base):
    """Stop retrying when too little of the run is left for another attempt to finish."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return not self._deadline.allows(2.0)


def _alert_row(record: dict[str, FieldValue]) -> AlertRow:
    amount = record.get("amount")
    score = record.get("fraud_score")
    return AlertRow(
        alert_key=str(record["alert_key"]),
        transaction_id=_text(record.get("transaction_id")),
        customer_id=_text(record.get("customer_id")),
        customer_email=_text(record.get("customer_email")),
        customer_name=_text(record.get("customer_name")),
        card_last4=_text(record.get("card_last4")),
        amount=amount if isinstance(amount, Decimal) else None,
        currency=_text(record.get("currency")),
        merchant_name=_text(record.get("merchant_name")),
        transaction_time=_time(record.get("transaction_time")),
        fraud_score=float(score) if isinstance(score, int | float | Decimal) else None,
        model_version=_text(record.get("model_version")),
        predicted_at=_time(record.get("predicted_at")),
        attempts=_count(record.get("attempts"), 1),
    )


def _count(value: FieldValue, default: int) -> int:
    # Counts arrive as longValue, or as a string or Decimal for wide sums; NULL (or 0) -> default.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str) or not value:
        return default
    return int(value)


def _text(value: FieldValue) -> str | None:
    return None if value is None else str(value)


def _time(value: FieldValue) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _status_report(
    by_state: list[dict[str, FieldValue]], model: dict[str, FieldValue], now: datetime
) -> StatusReport:
    counts = {"pending": 0, "claimed": 0, "sent": 0, "rejected": 0, "unknown": 0}
    reasons: dict[str, int] = {}
    expired = stuck = 0
    oldest: datetime | None = _time(model.get("oldest_unseen"))
    for row in by_state:
        state, alerts = str(row["state"]), _count(row["alerts"], 0)
        counts[state] = counts.get(state, 0) + alerts
        if state == "rejected":
            reasons[str(row["reason"])] = reasons.get(str(row["reason"]), 0) + alerts
        expired += _count(row["expired_claims"], 0)
        stuck += _count(row["deferred_too_often"], 0)
        candidate = _time(row.get("oldest_pending"))
        if candidate is not None and (oldest is None or candidate < oldest):
            oldest = candidate

    return StatusReport(
        pending=counts["pending"] + _count(model.get("unseen_alerts"), 0),
        claimed=counts["claimed"],
        sent=counts["sent"],
        rejected=counts["rejected"],
        unknown=counts["unknown"],
        expired_claims=expired,
        deferred_too_often=stuck,
        oldest_pending_age_seconds=(now - oldest).total_seconds() if oldest else None,
        rejected_by_reason=reasons,
        duplicate_rows=_count(model.get("duplicate_rows"), 0),
        already_sent_rows=_count(model.get("flagged_sent_rows"), 0),
    )
