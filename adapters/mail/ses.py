"""The Amazon SES mailer: one raw MIME message per recipient through the SESv2 SendEmail API.

Why a thread pool and not SendBulkEmail: SendBulkEmail only sends SES templates, which would
move rendering out of our sandboxed Jinja2 and our own MIME. SendEmail takes our bytes as they
are; the pool overlaps the network latency of many single sends, and one shared
`RecipientLimiter` keeps all threads under the account's rate.

SES has no idempotency token, so a message is only ever counted as sent when the response
carries a MessageId, and a call that SES answered is never repeated. A read timeout or a
dropped connection is retried as the brief asks; SES may in rare cases have accepted such a
call, so a retry after one can deliver the message twice (an at-most-once run would need an
"unknown" outcome in the domain to record that instead).
"""

from __future__ import annotations

import email.policy
import email.utils
import math
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.stop import stop_base

from adapters.mail.pacing import RecipientLimiter
from adapters.mail.ses_errors import (
    DAILY_QUOTA_HALT,
    ErrorClass,
    classify,
    is_retryable,
)
from adapters.observability import logger, mask_email
from domain.outcomes import DeferReason, Deferred, Delivery, Rejected, RejectReason, Sent
from domain.ports import Clock, Deadline, MailerReport, OutboundEmail

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import MessageTagTypeDef, SendEmailRequestTypeDef
    from tenacity import RetryCallState

# The rate used when GetAccount cannot be read and no cap is configured: the sandbox rate,
# which every SES account is allowed.
FALLBACK_RATE = 1.0

SENDING_DISABLED_HALT = "sending_disabled"

_TAG_LENGTH = 256
_TAG_FORBIDDEN = re.compile(r"[^A-Za-z0-9_-]")


def ses_client_config(max_workers: int = 16) -> Config:
    """The botocore config for the sesv2 client handed to `SesMailer`.

    botocore does not retry (one attempt): the mailer's own retries pace and classify, and two
    layers of retries would multiply. Timeouts are short because SendEmail answers in about
    100 ms; the pool holds one connection per worker thread.
    """
    return Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=2,
        read_timeout=5,
        max_pool_connections=max(10, max_workers),
    )


def sanitise_tags(tags: Sequence[tuple[str, str]]) -> list[MessageTagTypeDef]:
    """Keep SES's allowed tag characters (ASCII letters, digits, `_`, `-`), 256 at most."""
    clean: list[MessageTagTypeDef] = []
    for name, value in tags:
        safe_name = _TAG_FORBIDDEN.sub("_", name)[:_TAG_LENGTH]
        safe_value = _TAG_FORBIDDEN.sub("_", value)[:_TAG_LENGTH]
        if safe_name and safe_value:
            clean.append({"Name": safe_name, "Value": safe_value})
    return clean


def format_sender(sender: str) -> str:
    """Normalise `Name <address>`; a non-ASCII display name is RFC 2047 encoded, as SES needs."""
    name, address = email.utils.parseaddr(sender)
    if "@" not in address:
        raise ValueError("sender must contain an email address")
    return email.utils.formataddr((name, address))


@dataclass(frozen=True, slots=True)
class SendQuota:
    """What GetAccount said, or the fallback when it could not be read (`known=False`)."""

    max_send_rate: float
    max_24_hour_send: float | None
    sent_last_24_hours: float
    sending_enabled: bool
    read_at: float
    known: bool = True


class _NotSentError(Exception):
    """Raised inside an attempt when the email must not be sent at all; carries its outcome."""

    def __init__(self, reason: DeferReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _StopBeforeDeadline(stop_base):
    """Stop retrying when the coming backoff would end past the deadline less the margin."""

    def __init__(self, deadline: Deadline, margin: float) -> None:
        self._deadline = deadline
        self._margin = margin

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self._deadline.remaining() - self._margin


class _Batch:
    """State shared by the worker threads of one `send` call."""

    def __init__(self, allowance: int | None) -> None:
        self._lock = threading.Lock()
        self._allowance = allowance
        self.halt: str | None = None
        self.halt_reason = DeferReason.SENDING_HALTED
        self.throttled = 0
        self.quota_rechecked = False

    def stop(self, halt: str, reason: DeferReason) -> bool:
        """Halt the batch; the first halt wins. True when this call set it."""
        with self._lock:
            if self.halt is not None:
                return False
            self.halt = halt
            self.halt_reason = reason
            return True

    def halted(self) -> tuple[DeferReason, str] | None:
        with self._lock:
            return None if self.halt is None else (self.halt_reason, self.halt)

    def reserve(self) -> bool:
        """Take one send from the daily allowance; False when it is spent."""
        with self._lock:
            if self._allowance is None:
                return True
            if self._allowance <= 0:
                return False
            self._allowance -= 1
            return True

    def release(self) -> None:
        with self._lock:
            if self._allowance is not None:
                self._allowance += 1

    def count_throttle(self) -> None:
        with self._lock:
            self.throttled += 1

    def claim_quota_recheck(self) -> bool:
        with self._lock:
            first = not self.quota_rechecked
            self.quota_rechecked = True
            return first


class SesMailer:
    """Sends each email as raw MIME through SESv2 SendEmail, paced to the account's quota.

    `client` is a boto3 `sesv2` client (build it with `ses_client_config()`). `rate_cap` lowers
    the account's MaxSendRate, never raises it. The executor lives across batches; call
    `close()` when done.
    """

    def __init__(
        self,
        client: SESV2Client,
        *,
        sender: str,
        configuration_set: str | None = None,
        rate_cap: float | None = None,
        clock: Clock,
        max_workers: int = 16,
        quota_ttl_seconds: float = 60.0,
        max_attempts: int = 5,
        deadline_margin_seconds: float = 2.0,
        backoff_base_seconds: float = 0.2,
        backoff_max_seconds: float = 20.0,
    ) -> None:
        if rate_cap is not None and rate_cap <= 0:
            raise ValueError("rate_cap must be positive")
        if max_workers < 1 or max_attempts < 1:
            raise ValueError("max_workers and max_attempts must be at least 1")
        self._client = client
        self._sender = format_sender(sender)
        self._configuration_set = configuration_set
        self._rate_cap = rate_cap
        self._clock = clock
        self._max_workers = max_workers
        self._quota_ttl = quota_ttl_seconds
        self._max_attempts = max_attempts
        self._margin = deadline_margin_seconds
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds
        self._limiter = RecipientLimiter(rate_cap or FALLBACK_RATE, clock)
        self._lock = threading.Lock()
        self._quota_lock = threading.Lock()
        self._quota: SendQuota | None = None
        self._sent_since_quota = 0
        self._executor: ThreadPoolExecutor | None = None

    @property
    def limiter(self) -> RecipientLimiter:
        return self._limiter

    def send(self, emails: Sequence[OutboundEmail], deadline: Deadline) -> MailerReport:
        """Send every email once at most; one delivery per email, in the order given."""
        if not emails:
            return MailerReport(deliveries=[])

        quota = self._current_quota(force=False)
        if not quota.sending_enabled:
            logger.error("ses_sending_halted", extra={"halt": SENDING_DISABLED_HALT})
            deferred: list[Delivery] = [
                Deferred(e.alert_key, DeferReason.SENDING_HALTED, SENDING_DISABLED_HALT)
                for e in emails
            ]
            return MailerReport(deliveries=deferred, halt=SENDING_DISABLED_HALT)

        batch = _Batch(self._allowance(quota))
        executor = self._pool()
        futures = [executor.submit(self._deliver, e, batch, deadline) for e in emails]
        deliveries = [future.result() for future in futures]

        report = MailerReport(deliveries=deliveries, halt=batch.halt, throttled=batch.throttled)
        self._log_batch(report)
        return report

    def close(self) -> None:
        """Stop the worker threads (waits for running sends)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def __enter__(self) -> SesMailer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self._max_workers, thread_name_prefix="ses-mailer"
                )
            return self._executor

    # Quota

    def _current_quota(self, *, force: bool) -> SendQuota:
        # A separate lock, so that workers counting their sends never wait on GetAccount.
        with self._quota_lock:
            now = self._clock.monotonic()
            cached = self._quota
            if not force and cached is not None and now - cached.read_at < self._quota_ttl:
                return cached

            quota = self._read_quota(now)
            with self._lock:
                self._quota = quota
                self._sent_since_quota = 0

        self._limiter.set_max_rate(self._effective_rate(quota))
        return quota

    def _read_quota(self, now: float) -> SendQuota:
        try:
            account = self._client.get_account()
        except Exception as exc:
            # Without GetAccount (the role may lack ses:GetAccount) we still send, slowly: at
            # the configured cap or the sandbox rate; SES's own errors then guard the quota.
            logger.warning(
                "ses_quota_unavailable",
                extra={"error_code": classify(exc).code, "fallback_rate": self._fallback_rate()},
            )
            return SendQuota(
                max_send_rate=self._fallback_rate(),
                max_24_hour_send=None,
                sent_last_24_hours=0.0,
                sending_enabled=True,
                read_at=now,
                known=False,
            )

        send_quota = account.get("SendQuota", {})
        max_24 = float(send_quota.get("Max24HourSend", -1.0))
        rate = float(send_quota.get("MaxSendRate", 0.0))
        quota = SendQuota(
            max_send_rate=rate if rate > 0 else FALLBACK_RATE,
            max_24_hour_send=None if max_24 < 0 else max_24,
            sent_last_24_hours=float(send_quota.get("SentLast24Hours", 0.0)),
            sending_enabled=bool(account.get("SendingEnabled", True)),
            read_at=now,
        )
        logger.info(
            "ses_quota_read",
            extra={
                "max_send_rate": quota.max_send_rate,
                "max_24_hour_send": quota.max_24_hour_send,
                "sent_last_24_hours": quota.sent_last_24_hours,
                "sending_enabled": quota.sending_enabled,
                # In the sandbox SES rejects every unverified recipient (MessageRejected).
                "production_access": account.get("ProductionAccessEnabled"),
            },
        )
        return quota

    def _fallback_rate(self) -> float:
        return self._rate_cap if self._rate_cap is not None else FALLBACK_RATE

    def _effective_rate(self, quota: SendQuota) -> float:
        if self._rate_cap is None:
            return quota.max_send_rate
        return min(self._rate_cap, quota.max_send_rate)

    def _allowance(self, quota: SendQuota) -> int | None:
        if quota.max_24_hour_send is None:
            return None
        with self._lock:
            sent = self._sent_since_quota
        left = quota.max_24_hour_send - quota.sent_last_24_hours - sent
        return max(0, math.floor(left))

    def _note_sent(self) -> None:
        with self._lock:
            self._sent_since_quota += 1

    # One email

    def _deliver(self, outbound: OutboundEmail, batch: _Batch, deadline: Deadline) -> Delivery:
        try:
            return self._deliver_once(outbound, batch, deadline)
        except Exception:
            logger.exception("ses_send_unexpected_error", extra={"alert_key": outbound.alert_key})
            return Deferred(outbound.alert_key, DeferReason.TRANSIENT_FAILURE, "unexpected_error")

    def _deliver_once(self, outbound: OutboundEmail, batch: _Batch, deadline: Deadline) -> Delivery:
        key = outbound.alert_key
        halted = batch.halted()
        if halted is not None:
            return Deferred(key, halted[0], halted[1])
        if not deadline.allows(self._margin):
            return Deferred(key, DeferReason.DEADLINE, "deadline")

        try:
            request = self._request(outbound)
        except (ValueError, UnicodeError, LookupError):
            return Rejected(key, RejectReason.MAILER_REJECTED, "unencodable_message")

        if not batch.reserve():
            if batch.stop(DAILY_QUOTA_HALT, DeferReason.DAILY_QUOTA):
                logger.error("ses_sending_halted", extra={"halt": DAILY_QUOTA_HALT})
            return Deferred(key, DeferReason.DAILY_QUOTA, DAILY_QUOTA_HALT)

        try:
            response = self._retrying(deadline)(self._attempt, outbound, request, batch, deadline)
        except _NotSentError as exc:
            batch.release()
            return Deferred(key, exc.reason, exc.detail)
        except Exception as exc:
            batch.release()
            return self._failed(outbound, exc, batch)

        message_id = response.get("MessageId")
        if not message_id:
            # SES answered without an id: it may or may not have taken the message, and a
            # second call could deliver it twice, so it is neither sent nor retried here.
            logger.warning("ses_send_without_message_id", extra={"alert_key": key})
            return Deferred(key, DeferReason.TRANSIENT_FAILURE, "missing_message_id")

        self._note_sent()
        self._limiter.on_accepted()
        return Sent(key, message_id)

    def _retrying(self, deadline: Deadline) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self._max_attempts)
            | _StopBeforeDeadline(deadline, self._margin),
            wait=wait_random_exponential(multiplier=self._backoff_base, max=self._backoff_max),
            retry=retry_if_exception(is_retryable),
            sleep=self._clock.sleep,
            reraise=True,
        )

    def _attempt(
        self,
        outbound: OutboundEmail,
        request: SendEmailRequestTypeDef,
        batch: _Batch,
        deadline: Deadline,
    ) -> dict[str, Any]:
        halted = batch.halted()
        if halted is not None:
            raise _NotSentError(*halted)

        not_after = self._clock.monotonic() + deadline.remaining() - self._margin
        if self._limiter.acquire(1, not_after=not_after) is None:
            raise _NotSentError(DeferReason.DEADLINE, "deadline")

        try:
            return dict(self._client.send_email(**request))
        except Exception as exc:
            self._note_failure(outbound, exc, batch)
            raise

    def _note_failure(self, outbound: OutboundEmail, exc: Exception, batch: _Batch) -> None:
        failure = classify(exc)
        if failure.error_class is ErrorClass.THROTTLED:
            batch.count_throttle()
            self._limiter.on_throttled()
            logger.warning(
                "ses_throttled",
                extra={
                    "alert_key": outbound.alert_key,
                    "error_code": failure.code,
                    "send_rate": self._limiter.rate,
                },
            )
        elif failure.error_class is ErrorClass.TRANSIENT:
            logger.warning(
                "ses_transient_failure",
                extra={"alert_key": outbound.alert_key, "error_code": failure.code},
            )

    def _failed(self, outbound: OutboundEmail, exc: Exception, batch: _Batch) -> Delivery:
        key = outbound.alert_key
        failure = classify(exc)
        if failure.error_class is ErrorClass.THROTTLED:
            self._recheck_quota(batch)
            return Deferred(key, DeferReason.THROTTLED, failure.code)
        if failure.error_class is ErrorClass.TRANSIENT:
            return Deferred(key, DeferReason.TRANSIENT_FAILURE, failure.code)
        if failure.error_class is ErrorClass.REJECTED:
            logger.info(
                "ses_message_rejected",
                extra={
                    "alert_key": key,
                    "error_code": failure.code,
                    "recipient": mask_email(outbound.recipient),
                },
            )
            return Rejected(key, RejectReason.MAILER_REJECTED, failure.code)
        if failure.error_class is ErrorClass.ACCOUNT_HALT and failure.halt is not None:
            reason = (
                DeferReason.DAILY_QUOTA
                if failure.halt == DAILY_QUOTA_HALT
                else DeferReason.SENDING_HALTED
            )
            if batch.stop(failure.halt, reason):
                logger.error(
                    "ses_sending_halted", extra={"halt": failure.halt, "error_code": failure.code}
                )
            return Deferred(key, reason, failure.code)

        logger.warning(
            "ses_unclassified_error", extra={"alert_key": key, "error_code": failure.code}
        )
        return Deferred(key, DeferReason.TRANSIENT_FAILURE, failure.code)

    def _recheck_quota(self, batch: _Batch) -> None:
        """After throttling outlasted its retries, ask GetAccount whether the day is spent.

        SES reports the daily quota with the same throttling code as the rate; the fresh
        account figures are the context that tells them apart (once per batch).
        """
        if not batch.claim_quota_recheck():
            return
        quota = self._current_quota(force=True)
        if not quota.sending_enabled:
            if batch.stop(SENDING_DISABLED_HALT, DeferReason.SENDING_HALTED):
                logger.error("ses_sending_halted", extra={"halt": SENDING_DISABLED_HALT})
        elif self._allowance(quota) == 0 and batch.stop(DAILY_QUOTA_HALT, DeferReason.DAILY_QUOTA):
            logger.error("ses_sending_halted", extra={"halt": DAILY_QUOTA_HALT})

    def _request(self, outbound: OutboundEmail) -> SendEmailRequestTypeDef:
        # policy.SMTP: CRLF line ends and RFC 5322 folding of long headers at 78 characters.
        raw = outbound.message.as_bytes(policy=email.policy.SMTP)
        request: SendEmailRequestTypeDef = {
            "FromEmailAddress": self._sender,
            "Destination": {"ToAddresses": [outbound.recipient]},
            "Content": {"Raw": {"Data": raw}},
        }
        tags = sanitise_tags(outbound.tags)
        if tags:
            request["EmailTags"] = tags
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        return request

    def _log_batch(self, report: MailerReport) -> None:
        counts = {"sent": 0, "rejected": 0, "deferred": 0}
        for delivery in report.deliveries:
            if isinstance(delivery, Sent):
                counts["sent"] += 1
            elif isinstance(delivery, Rejected):
                counts["rejected"] += 1
            else:
                counts["deferred"] += 1
        logger.info(
            "ses_batch_sent",
            extra={
                "emails": len(report.deliveries),
                **counts,
                "throttled": report.throttled,
                "halt": report.halt,
                "send_rate": self._limiter.rate,
            },
        )


__all__ = [
    "FALLBACK_RATE",
    "SesMailer",
    "format_sender",
    "sanitise_tags",
    "ses_client_config",
]
