"""How the SES mailer reads a failed call: by error code and HTTP status, never by message text.

SES words both of its quota errors the same way on the v1 API (code `Throttling`, HTTP 400,
only the message says "Maximum sending rate exceeded" or "Daily message quota exceeded"), so
the text is the one thing that would tell them apart. We do not read it: a throttling code is
always treated as the rate (retried, pacing slowed), and the mailer checks the daily quota
itself through GetAccount. SESv2's `LimitExceededException` on SendEmail is not transient: the
only account limit a send can exceed that is not the rate is the 24-hour quota, so it halts
the run as `daily_quota` and the alerts go back to the pool for a later run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)


class ErrorClass(StrEnum):
    """What a failed call means for the message and for the run."""

    THROTTLED = "throttled"
    TRANSIENT = "transient"
    REJECTED = "rejected"
    ACCOUNT_HALT = "account_halt"
    UNKNOWN = "unknown"


THROTTLING_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
    }
)

TRANSIENT_CODES = frozenset(
    {
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

# Wrong for this one message only: the next message may well go through.
MESSAGE_REJECTED_CODES = frozenset(
    {
        "MessageRejected",
        "InvalidParameterValue",
        "InvalidParameter",
        "BadRequestException",
    }
)

# Wrong for every message of the account: sending more would only fail the same way.
# `NotFoundException` on SendEmail names a missing configuration set (or identity), a deploy
# error that must not be mistaken for a bad alert and reject the whole batch.
ACCOUNT_HALT_CODES: dict[str, str] = {
    "AccountSuspendedException": "account_suspended",
    "SendingPausedException": "sending_paused",
    "MailFromDomainNotVerifiedException": "mail_from_domain_not_verified",
    "NotFoundException": "configuration_not_found",
    "LimitExceededException": "daily_quota",
    "AccessDeniedException": "access_denied",
    "AccessDenied": "access_denied",
    "UnrecognizedClientException": "invalid_credentials",
    "InvalidClientTokenId": "invalid_credentials",
    "ExpiredTokenException": "expired_credentials",
}

DAILY_QUOTA_HALT = "daily_quota"

_CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


@dataclass(frozen=True, slots=True)
class SesFailure:
    """A classified failure: its class, the code to store, and for halts the halt code."""

    error_class: ErrorClass
    code: str
    halt: str | None = None


def classify(exc: BaseException) -> SesFailure:
    """Classify an exception raised by a sesv2 client call."""
    if isinstance(exc, _CONNECTION_ERRORS):
        return SesFailure(ErrorClass.TRANSIENT, type(exc).__name__)
    if not isinstance(exc, ClientError):
        return SesFailure(ErrorClass.UNKNOWN, type(exc).__name__)

    code = error_code(exc)
    status = http_status(exc)
    if code in THROTTLING_CODES or status == 429:
        return SesFailure(ErrorClass.THROTTLED, code)
    if code in ACCOUNT_HALT_CODES:
        return SesFailure(ErrorClass.ACCOUNT_HALT, code, ACCOUNT_HALT_CODES[code])
    if code in TRANSIENT_CODES or (status is not None and status >= 500):
        return SesFailure(ErrorClass.TRANSIENT, code)
    if code in MESSAGE_REJECTED_CODES:
        return SesFailure(ErrorClass.REJECTED, code)
    return SesFailure(ErrorClass.UNKNOWN, code)


def is_retryable(exc: BaseException) -> bool:
    """Throttling and transient failures are worth another attempt; nothing else is."""
    return classify(exc).error_class in (ErrorClass.THROTTLED, ErrorClass.TRANSIENT)


def error_code(exc: ClientError) -> str:
    code = exc.response.get("Error", {}).get("Code")
    return str(code) if code else "Unknown"


def http_status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None
