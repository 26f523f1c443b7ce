"""SesMailer against moto (SendEmail) and botocore's Stubber (GetAccount and every error code)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from adapters.mail.ses import SesMailer, format_sender, sanitise_tags, ses_client_config
from domain.outcomes import DeferReason, Deferred, Rejected, RejectReason, Sent
from domain.ports import Deadline, Mailer, OutboundEmail
from tests.fakes import FakeClock

REGION = "eu-west-1"
SENDER = "Card Security <alerts@bank.example>"
LONG_SUBJECT = "Did you make this payment? " + "Card ending 4242, unusual activity " * 4


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


class LockedClock(FakeClock):
    """A FakeClock safe to read and advance from the mailer's worker threads."""

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()

    def monotonic(self) -> float:
        with self._guard:
            return super().monotonic()

    def sleep(self, seconds: float) -> None:
        with self._guard:
            super().sleep(seconds)


def make_email(index: int, recipient: str | None = None) -> OutboundEmail:
    address = recipient or f"customer{index}@example.com"
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = address
    message["Subject"] = LONG_SUBJECT
    message["Date"] = format_datetime(FakeClock().now())
    message["Message-ID"] = make_msgid(domain="bank.example")
    message.set_content("We saw a payment of 12.34 EUR.\n")
    message.add_alternative("<p>We saw a payment of 12.34 EUR.</p>\n", subtype="html")
    return OutboundEmail(
        alert_key=f"alert-{index}",
        recipient=address,
        message=message,
        tags=(("transaction_id", f"tx {index}/é"),),
    )


def account(
    *,
    rate: float = 50.0,
    max_24: float = -1.0,
    sent_24: float = 0.0,
    enabled: bool = True,
) -> dict[str, Any]:
    return {
        "SendQuota": {"MaxSendRate": rate, "Max24HourSend": max_24, "SentLast24Hours": sent_24},
        "SendingEnabled": enabled,
        "ProductionAccessEnabled": True,
    }


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sesv2", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def mailer_for(client: Any, clock: FakeClock, **options: Any) -> SesMailer:
    options.setdefault("max_workers", 1)
    return SesMailer(client, sender=SENDER, clock=clock, **options)


def sent_ok(stubber: Stubber, message_id: str) -> None:
    stubber.add_response("send_email", {"MessageId": message_id}, None)


def fail(stubber: Stubber, code: str, status: int = 400) -> None:
    stubber.add_client_error("send_email", service_error_code=code, http_status_code=status)


# SendEmail through moto


def moto_messages() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


@mock_aws
def test_each_email_is_one_raw_message_to_exactly_one_recipient() -> None:
    client = boto3.client("sesv2", region_name=REGION)
    client.create_email_identity(EmailIdentity="alerts@bank.example")
    emails = [make_email(i) for i in range(3)]

    with mailer_for(client, FakeClock(), rate_cap=10.0) as mailer:
        port: Mailer = mailer
        report = port.send(emails, Deadline(FakeClock(), None))

    stored = moto_messages()
    assert [type(d) for d in report.deliveries] == [Sent, Sent, Sent]
    assert {d.message_id for d in report.deliveries if isinstance(d, Sent)} == {
        m.id for m in stored
    }
    assert report.halt is None
    for email, message in zip(emails, stored, strict=True):
        assert set(message.destinations) == {email.recipient}
        assert message.source == SENDER
        assert "\r\n" in message.raw_data
        assert "\n" not in message.raw_data.replace("\r\n", "")
        assert all(len(line) <= 78 for line in message.raw_data.split("\r\n")[:12])
        assert "Subject: Did you make this payment?" in message.raw_data


@mock_aws
def test_unverified_sender_is_rejected_per_message_and_the_batch_goes_on() -> None:
    client = boto3.client("sesv2", region_name=REGION)

    with mailer_for(client, FakeClock(), rate_cap=10.0) as mailer:
        report = mailer.send([make_email(0), make_email(1)], Deadline(FakeClock(), None))

    assert report.deliveries == [
        Rejected("alert-0", RejectReason.MAILER_REJECTED, "MessageRejected"),
        Rejected("alert-1", RejectReason.MAILER_REJECTED, "MessageRejected"),
    ]
    assert moto_messages() == []


@mock_aws
def test_worker_threads_send_every_email_once() -> None:
    client = boto3.client("sesv2", region_name=REGION, config=ses_client_config(4))
    client.create_email_identity(EmailIdentity="bank.example")
    clock = LockedClock()
    emails = [make_email(i) for i in range(12)]

    with mailer_for(client, clock, rate_cap=200.0, max_workers=4) as mailer:
        report = mailer.send(emails, Deadline(clock, None))

    assert [d.alert_key for d in report.deliveries] == [e.alert_key for e in emails]
    assert all(isinstance(d, Sent) for d in report.deliveries)
    recipients = sorted(next(iter(set(m.destinations))) for m in moto_messages())
    assert recipients == sorted(e.recipient for e in emails)


# GetAccount: quota, rate and the daily allowance


@pytest.mark.parametrize(
    ("quota_rate", "cap", "expected"), [(14, None, 14), (14, 5, 5), (3, 10, 3)]
)
def test_the_rate_is_the_quota_lowered_by_the_cap_never_raised(
    stubbed: tuple[Any, Stubber], quota_rate: float, cap: float | None, expected: float
) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account(rate=quota_rate))
    sent_ok(stubber, "m-0")
    clock = FakeClock()

    mailer = mailer_for(client, clock, rate_cap=cap)

    report = mailer.send([make_email(0)], Deadline(clock, None))

    assert report.deliveries == [Sent("alert-0", "m-0")]
    assert mailer.limiter.max_rate == expected


def test_sending_disabled_halts_before_any_send(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account(enabled=False))
    clock = FakeClock()

    report = mailer_for(client, clock).send([make_email(0), make_email(1)], Deadline(clock, None))

    assert report.halt == "sending_disabled"
    assert report.deliveries == [
        Deferred("alert-0", DeferReason.SENDING_HALTED, "sending_disabled"),
        Deferred("alert-1", DeferReason.SENDING_HALTED, "sending_disabled"),
    ]


def test_sending_stops_at_the_daily_quota(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account(max_24=10, sent_24=8))
    sent_ok(stubber, "m-0")
    sent_ok(stubber, "m-1")
    clock = FakeClock()

    report = mailer_for(client, clock).send(
        [make_email(i) for i in range(4)], Deadline(clock, None)
    )

    assert report.halt == "daily_quota"
    assert report.deliveries == [
        Sent("alert-0", "m-0"),
        Sent("alert-1", "m-1"),
        Deferred("alert-2", DeferReason.DAILY_QUOTA, "daily_quota"),
        Deferred("alert-3", DeferReason.DAILY_QUOTA, "daily_quota"),
    ]


def test_cached_quota_counts_the_sends_of_earlier_batches(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account(max_24=3))
    sent_ok(stubber, "m-0")
    sent_ok(stubber, "m-1")
    sent_ok(stubber, "m-2")
    stubber.add_response("get_account", account(max_24=100, sent_24=3))
    sent_ok(stubber, "m-3")
    clock = FakeClock()
    mailer = mailer_for(client, clock, quota_ttl_seconds=60.0)

    first = mailer.send([make_email(0), make_email(1)], Deadline(clock, None))
    second = mailer.send([make_email(2), make_email(3)], Deadline(clock, None))
    clock.advance(61.0)
    third = mailer.send([make_email(4)], Deadline(clock, None))

    assert first.halt is None
    assert second.halt == "daily_quota"
    assert second.deliveries[1] == Deferred("alert-3", DeferReason.DAILY_QUOTA, "daily_quota")
    assert third.deliveries == [Sent("alert-4", "m-3")]


def test_unlimited_daily_quota_never_halts(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account(max_24=-1, sent_24=10_000_000))
    for i in range(3):
        sent_ok(stubber, f"m-{i}")
    clock = FakeClock()

    report = mailer_for(client, clock).send(
        [make_email(i) for i in range(3)], Deadline(clock, None)
    )

    assert report.halt is None
    assert all(isinstance(d, Sent) for d in report.deliveries)


@pytest.mark.parametrize(("cap", "expected_rate"), [(None, 1.0), (4.0, 4.0)])
def test_denied_get_account_falls_back_to_the_cap_or_one_per_second(
    stubbed: tuple[Any, Stubber], cap: float | None, expected_rate: float
) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_account", service_error_code="AccessDeniedException")
    sent_ok(stubber, "m-0")
    sent_ok(stubber, "m-1")
    clock = FakeClock()
    mailer = mailer_for(client, clock, rate_cap=cap)

    report = mailer.send([make_email(0), make_email(1)], Deadline(clock, None))

    assert report.deliveries == [Sent("alert-0", "m-0"), Sent("alert-1", "m-1")]
    assert mailer.limiter.max_rate == expected_rate
    assert sum(clock.slept) == pytest.approx(1.0 / expected_rate, rel=1e-3)


# Throttling and transient failures: retried with backoff


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("TooManyRequestsException", 429),
        ("ThrottlingException", 400),
        ("Throttling", 400),
        ("SomethingNew", 429),
    ],
)
def test_throttling_is_retried_and_slows_the_pace(
    stubbed: tuple[Any, Stubber], code: str, status: int
) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account(rate=20))
    fail(stubber, code, status)
    sent_ok(stubber, "m-0")
    clock = FakeClock()
    mailer = mailer_for(client, clock)

    report = mailer.send([make_email(0)], Deadline(clock, None))

    assert report.deliveries == [Sent("alert-0", "m-0")]
    assert report.throttled == 1
    assert mailer.limiter.rate < 20
    assert clock.slept


@pytest.mark.parametrize(
    ("code", "status"), [("InternalFailure", 500), ("ServiceUnavailable", 503), ("Odd", 502)]
)
def test_server_errors_are_retried(stubbed: tuple[Any, Stubber], code: str, status: int) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    fail(stubber, code, status)
    fail(stubber, code, status)
    sent_ok(stubber, "m-0")
    clock = FakeClock()

    report = mailer_for(client, clock).send([make_email(0)], Deadline(clock, None))

    assert report.deliveries == [Sent("alert-0", "m-0")]
    assert report.throttled == 0


def test_exhausted_throttling_defers_and_the_batch_goes_on(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    for _ in range(3):
        fail(stubber, "TooManyRequestsException", 429)
    stubber.add_response("get_account", account(max_24=1000, sent_24=10))
    sent_ok(stubber, "m-1")
    clock = FakeClock()

    report = mailer_for(client, clock, max_attempts=3).send(
        [make_email(0), make_email(1)], Deadline(clock, None)
    )

    assert report.deliveries == [
        Deferred("alert-0", DeferReason.THROTTLED, "TooManyRequestsException"),
        Sent("alert-1", "m-1"),
    ]
    assert report.throttled == 3
    assert report.halt is None


def test_exhausted_throttling_with_a_spent_day_halts_as_daily_quota(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    for _ in range(2):
        fail(stubber, "Throttling", 400)
    stubber.add_response("get_account", account(max_24=200, sent_24=200))
    clock = FakeClock()

    report = mailer_for(client, clock, max_attempts=2).send(
        [make_email(0), make_email(1)], Deadline(clock, None)
    )

    assert report.halt == "daily_quota"
    assert report.deliveries == [
        Deferred("alert-0", DeferReason.THROTTLED, "Throttling"),
        Deferred("alert-1", DeferReason.DAILY_QUOTA, "daily_quota"),
    ]


def test_exhausted_server_errors_defer_as_transient(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    for _ in range(2):
        fail(stubber, "InternalFailure", 500)
    clock = FakeClock()

    report = mailer_for(client, clock, max_attempts=2).send([make_email(0)], Deadline(clock, None))

    assert report.deliveries == [
        Deferred("alert-0", DeferReason.TRANSIENT_FAILURE, "InternalFailure")
    ]


class FlakyConnectionClient:
    """A sesv2 client whose first SendEmail fails at the connection level."""

    def __init__(self, error: Exception) -> None:
        self._error: Exception | None = error
        self.calls = 0

    def get_account(self) -> dict[str, Any]:
        return account()

    def send_email(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return {"MessageId": "m-after-retry"}


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://email.eu-west-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://email.eu-west-1.amazonaws.com"),
    ],
)
def test_connection_errors_are_retried(error: Exception) -> None:
    client = FlakyConnectionClient(error)
    clock = FakeClock()

    report = mailer_for(client, clock).send([make_email(0)], Deadline(clock, None))

    assert report.deliveries == [Sent("alert-0", "m-after-retry")]
    assert client.calls == 2


# Permanent failures: per message, or for the whole account


@pytest.mark.parametrize(
    "code", ["MessageRejected", "InvalidParameterValue", "InvalidParameter", "BadRequestException"]
)
def test_message_errors_reject_that_message_only(stubbed: tuple[Any, Stubber], code: str) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    fail(stubber, code)
    sent_ok(stubber, "m-1")
    clock = FakeClock()

    report = mailer_for(client, clock).send([make_email(0), make_email(1)], Deadline(clock, None))

    assert report.deliveries == [
        Rejected("alert-0", RejectReason.MAILER_REJECTED, code),
        Sent("alert-1", "m-1"),
    ]
    assert report.halt is None
    assert clock.slept == [pytest.approx(1 / 50)]


@pytest.mark.parametrize(
    ("code", "status", "halt"),
    [
        ("AccountSuspendedException", 400, "account_suspended"),
        ("SendingPausedException", 400, "sending_paused"),
        ("MailFromDomainNotVerifiedException", 400, "mail_from_domain_not_verified"),
        ("NotFoundException", 404, "configuration_not_found"),
        ("AccessDeniedException", 403, "access_denied"),
    ],
)
def test_account_errors_halt_and_defer_everything_unsent(
    stubbed: tuple[Any, Stubber], code: str, status: int, halt: str
) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    sent_ok(stubber, "m-0")
    fail(stubber, code, status)
    clock = FakeClock()

    report = mailer_for(client, clock).send(
        [make_email(i) for i in range(4)], Deadline(clock, None)
    )

    assert report.halt == halt
    assert report.deliveries == [
        Sent("alert-0", "m-0"),
        Deferred("alert-1", DeferReason.SENDING_HALTED, code),
        Deferred("alert-2", DeferReason.SENDING_HALTED, halt),
        Deferred("alert-3", DeferReason.SENDING_HALTED, halt),
    ]


def test_limit_exceeded_is_the_daily_quota(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    fail(stubber, "LimitExceededException")
    clock = FakeClock()

    report = mailer_for(client, clock).send([make_email(0), make_email(1)], Deadline(clock, None))

    assert report.halt == "daily_quota"
    assert report.deliveries == [
        Deferred("alert-0", DeferReason.DAILY_QUOTA, "LimitExceededException"),
        Deferred("alert-1", DeferReason.DAILY_QUOTA, "daily_quota"),
    ]


def test_unknown_client_errors_defer_without_retry(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    fail(stubber, "BrandNewException")
    clock = FakeClock()

    report = mailer_for(client, clock).send([make_email(0)], Deadline(clock, None))

    assert report.deliveries == [
        Deferred("alert-0", DeferReason.TRANSIENT_FAILURE, "BrandNewException")
    ]


def test_a_response_without_message_id_is_not_sent_and_not_retried(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    stubber.add_response("send_email", {})
    clock = FakeClock()

    report = mailer_for(client, clock).send([make_email(0)], Deadline(clock, None))

    assert report.deliveries == [
        Deferred("alert-0", DeferReason.TRANSIENT_FAILURE, "missing_message_id")
    ]


# Deadline


def test_a_near_deadline_defers_without_calling_ses(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    clock = FakeClock()

    report = mailer_for(client, clock, deadline_margin_seconds=2.0).send(
        [make_email(0), make_email(1)], Deadline(clock, 1.5)
    )

    assert report.deliveries == [
        Deferred("alert-0", DeferReason.DEADLINE, "deadline"),
        Deferred("alert-1", DeferReason.DEADLINE, "deadline"),
    ]


def test_pacing_that_would_cross_the_deadline_defers(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_account", account(rate=1))
    sent_ok(stubber, "m-0")
    sent_ok(stubber, "m-1")
    clock = FakeClock()

    report = mailer_for(client, clock, deadline_margin_seconds=1.0).send(
        [make_email(i) for i in range(4)], Deadline(clock, 2.5)
    )

    assert report.deliveries == [
        Sent("alert-0", "m-0"),
        Sent("alert-1", "m-1"),
        Deferred("alert-2", DeferReason.DEADLINE, "deadline"),
        Deferred("alert-3", DeferReason.DEADLINE, "deadline"),
    ]


def test_retries_stop_before_the_backoff_crosses_the_deadline(
    stubbed: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Full jitter draws the wait uniformly; pin it to the top of its range, or a short draw
    # (one run in two hundred) would rightly fit a retry before the deadline.
    monkeypatch.setattr("random.uniform", lambda low, high: high)
    client, stubber = stubbed
    stubber.add_response("get_account", account())
    fail(stubber, "InternalFailure", 500)
    clock = FakeClock()

    report = mailer_for(
        client, clock, max_attempts=10, backoff_base_seconds=100.0, deadline_margin_seconds=2.0
    ).send([make_email(0)], Deadline(clock, 2.5))

    assert report.deliveries == [
        Deferred("alert-0", DeferReason.TRANSIENT_FAILURE, "InternalFailure")
    ]
    assert sum(clock.slept) < 0.5


# The request itself


def test_request_carries_sender_recipient_raw_mime_tags_and_configuration_set(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stubber = stubbed
    email = make_email(7)
    stubber.add_response("get_account", account())
    stubber.add_response(
        "send_email",
        {"MessageId": "m-7"},
        {
            "FromEmailAddress": SENDER,
            "Destination": {"ToAddresses": ["customer7@example.com"]},
            "Content": {"Raw": {"Data": ANY}},
            "EmailTags": [{"Name": "transaction_id", "Value": "tx_7__"}],
            "ConfigurationSetName": "fraud-alerts",
        },
    )
    clock = FakeClock()

    report = mailer_for(client, clock, configuration_set="fraud-alerts").send(
        [email], Deadline(clock, None)
    )

    assert report.deliveries == [Sent("alert-7", "m-7")]


def test_tags_are_cut_to_ses_characters_and_length() -> None:
    tags = sanitise_tags([("transaction id", "a.b@c" + "x" * 300), ("empty", "é")])

    assert tags[0]["Name"] == "transaction_id"
    assert tags[0]["Value"].startswith("a_b_c")
    assert len(tags[0]["Value"]) == 256
    assert tags[1] == {"Name": "empty", "Value": "_"}
    assert sanitise_tags([("", "")]) == []


def test_sender_display_names_are_kept_and_encoded_when_not_ascii() -> None:
    assert format_sender(SENDER) == SENDER
    assert format_sender("Sécurité <alerts@bank.example>").startswith("=?utf-8?")
    with pytest.raises(ValueError, match="sender"):
        format_sender("nobody")


def test_client_config_leaves_retries_to_the_mailer() -> None:
    config = ses_client_config(max_workers=32)

    options = vars(config)
    assert options["retries"] == {"mode": "standard", "total_max_attempts": 1}
    assert options["max_pool_connections"] == 32
    assert options["connect_timeout"] == 2
    assert options["read_timeout"] == 5


def test_an_empty_batch_calls_nothing(stubbed: tuple[Any, Stubber]) -> None:
    client, _ = stubbed
    clock = FakeClock()

    report = mailer_for(client, clock).send([], Deadline(clock, None))

    assert report.deliveries == []
    assert report.halt is None
