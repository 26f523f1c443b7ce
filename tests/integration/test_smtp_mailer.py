"""SmtpMailer against a real SMTP server (aiosmtpd) listening on 127.0.0.1 in this process."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from adapters.mail.smtp import SmtpConfigError, SmtpMailer
from domain.outcomes import DeferReason, Deferred, Rejected, RejectReason, Sent
from domain.ports import Deadline, OutboundEmail
from tests.fakes import FakeClock

SENDER = "alerts@bank.example"
USERNAME = "fraud-alerts"
PASSWORD = "s3cret-Pa55word-never-logged"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class RecordingHandler:
    """Accepts mail and keeps it; `replies` answers RCPT for an address with a fixed reply."""

    replies: dict[str, str] = field(default_factory=dict)
    replies_once: dict[str, str] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)
    mail_reply: str | None = None
    received: list[Received] = field(default_factory=list)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: Any
    ) -> str:
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        reply = self.replies.get(address) or self.replies_once.pop(address, None)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self.data_replies.get(envelope.rcpt_tos[0])
        if reply is not None:
            return reply
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    # aiosmtpd's Controller cannot listen on port 0, so ask the OS for a free port first.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USERNAME, PASSWORD)
    return AuthResult(success=ok, handled=False)


@dataclass
class Server:
    handler: RecordingHandler
    port: int


@contextmanager
def _serving(**options: Any) -> Iterator[Server]:
    handler = RecordingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield Server(handler, port)
    finally:
        controller.stop()


@pytest.fixture
def server() -> Iterator[Server]:
    with _serving(authenticator=_authenticate, auth_require_tls=False) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _mailer(port: int, clock: FakeClock, **options: Any) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", port, clock=clock, timeout=5.0, **options)


def _email(alert_key: str, recipient: str, *, with_message_id: bool = True) -> OutboundEmail:
    message = EmailMessage()
    message["From"] = f"Card Security <{SENDER}>"
    message["To"] = f"Customer <{recipient}>"
    message["Subject"] = f"Did you make this payment? {alert_key}"
    if with_message_id:
        message["Message-ID"] = f"<{alert_key}@bank.example>"
    message.set_content("We stopped a payment that looked unusual.\n")
    return OutboundEmail(alert_key=alert_key, recipient=recipient, message=message)


def _parse(content: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(content, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_each_message_reaches_the_server_with_exactly_one_recipient(
    server: Server, clock: FakeClock
) -> None:
    emails = [_email(f"txn-000000{n}", f"customer{n}@example.com") for n in range(1, 4)]

    report = _mailer(server.port, clock).send(emails, Deadline(clock, None))

    assert report.halt is None
    assert report.deliveries == [
        Sent(item.alert_key, f"<{item.alert_key}@bank.example>") for item in emails
    ]
    assert [received.rcpt_tos for received in server.handler.received] == [
        [item.recipient] for item in emails
    ]
    for item, received in zip(emails, server.handler.received, strict=True):
        parsed = _parse(received.content)
        assert received.mail_from == SENDER
        assert parsed["Subject"] == item.message["Subject"]
        assert parsed["To"] == item.message["To"]
        assert parsed["Message-ID"] == f"<{item.alert_key}@bank.example>"


def test_refusals_are_classified_by_reply_code(server: Server, clock: FakeClock) -> None:
    server.handler.replies = {
        "gone@example.com": "550 5.1.1 No such user",
        "busy@example.com": "451 4.3.0 Try again later",
    }
    emails = [
        _email("txn-0000001", "first@example.com"),
        _email("txn-0000002", "gone@example.com"),
        _email("txn-0000003", "busy@example.com"),
        _email("txn-0000004", "last@example.com"),
    ]

    report = _mailer(server.port, clock).send(emails, Deadline(clock, None))

    assert report.halt is None
    assert report.deliveries == [
        Sent("txn-0000001", "<txn-0000001@bank.example>"),
        Rejected("txn-0000002", RejectReason.MAILER_REJECTED, "smtp_550"),
        Deferred("txn-0000003", DeferReason.TRANSIENT_FAILURE, "smtp_451"),
        Sent("txn-0000004", "<txn-0000004@bank.example>"),
    ]
    assert [received.rcpt_tos for received in server.handler.received] == [
        ["first@example.com"],
        ["last@example.com"],
    ]


def test_a_dropped_connection_is_reopened_once_for_the_rest_of_the_batch(
    server: Server, clock: FakeClock
) -> None:
    # smtplib closes its connection on a 421, as RFC 5321 asks.
    server.handler.replies_once = {"first@example.com": "421 4.3.2 Closing, try later"}
    emails = [
        _email("txn-0000001", "first@example.com"),
        _email("txn-0000002", "second@example.com"),
        _email("txn-0000003", "third@example.com"),
    ]

    report = _mailer(server.port, clock).send(emails, Deadline(clock, None))

    assert report.halt is None
    assert report.deliveries == [
        Deferred("txn-0000001", DeferReason.TRANSIENT_FAILURE, "smtp_421"),
        Sent("txn-0000002", "<txn-0000002@bank.example>"),
        Sent("txn-0000003", "<txn-0000003@bank.example>"),
    ]


def test_a_second_drop_in_one_batch_halts_it(server: Server, clock: FakeClock) -> None:
    server.handler.replies = {
        "first@example.com": "421 4.3.2 Closing",
        "second@example.com": "421 4.3.2 Closing",
    }
    emails = [
        _email("txn-0000001", "first@example.com"),
        _email("txn-0000002", "second@example.com"),
        _email("txn-0000003", "third@example.com"),
    ]

    report = _mailer(server.port, clock).send(emails, Deadline(clock, None))

    assert report.halt == "smtp_unavailable"
    assert report.deliveries == [
        Deferred("txn-0000001", DeferReason.TRANSIENT_FAILURE, "smtp_421"),
        Deferred("txn-0000002", DeferReason.TRANSIENT_FAILURE, "smtp_421"),
        Deferred("txn-0000003", DeferReason.TRANSIENT_FAILURE, "smtp_unavailable"),
    ]
    assert server.handler.received == []


def test_an_unreachable_server_defers_the_whole_batch_and_halts(clock: FakeClock) -> None:
    emails = [_email(f"txn-000000{n}", f"customer{n}@example.com") for n in range(1, 4)]

    report = _mailer(_free_port(), clock).send(emails, Deadline(clock, None))

    assert report.halt == "smtp_unavailable"
    assert report.deliveries == [
        Deferred("txn-0000001", DeferReason.TRANSIENT_FAILURE, "smtp_unavailable"),
        Deferred("txn-0000002", DeferReason.SENDING_HALTED, "smtp_unavailable"),
        Deferred("txn-0000003", DeferReason.SENDING_HALTED, "smtp_unavailable"),
    ]


def test_login_with_the_right_password_sends(server: Server, clock: FakeClock) -> None:
    mailer = _mailer(server.port, clock, username=USERNAME, password=PASSWORD)

    report = mailer.send([_email("txn-0000001", "jane@example.com")], Deadline(clock, None))

    assert report.deliveries == [Sent("txn-0000001", "<txn-0000001@bank.example>")]
    assert len(server.handler.received) == 1


def test_a_refused_login_halts_and_never_shows_the_password(
    server: Server, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-" + PASSWORD
    mailer = _mailer(server.port, clock, username=USERNAME, password=wrong)
    emails = [_email("txn-0000001", "jane@example.com"), _email("txn-0000002", "joe@example.com")]

    report = mailer.send(emails, Deadline(clock, None))

    assert report.halt == "smtp_auth_failed"
    assert report.deliveries == [
        Deferred("txn-0000001", DeferReason.TRANSIENT_FAILURE, "smtp_auth_failed"),
        Deferred("txn-0000002", DeferReason.SENDING_HALTED, "smtp_auth_failed"),
    ]
    assert server.handler.received == []
    # Powertools passes fields as record attributes, so every field is in vars(record).
    assert "smtp_login_refused" in [record.getMessage() for record in caplog.records]
    assert all(PASSWORD not in str(vars(record)) for record in caplog.records)
    assert all("wrong-" not in str(vars(record)) for record in caplog.records)
    assert PASSWORD not in repr(mailer)


def test_a_message_without_message_id_is_sent_with_the_reported_one(
    server: Server, clock: FakeClock
) -> None:
    outbound = _email("txn-0000001", "jane@example.com", with_message_id=False)

    report = _mailer(server.port, clock).send([outbound], Deadline(clock, None))

    (delivery,) = report.deliveries
    assert isinstance(delivery, Sent)
    assert _parse(server.handler.received[0].content)["Message-ID"] == delivery.message_id
    assert outbound.message["Message-ID"] is None


def test_emails_past_the_deadline_are_deferred_without_connecting(
    server: Server, clock: FakeClock
) -> None:
    emails = [_email("txn-0000001", "jane@example.com"), _email("txn-0000002", "joe@example.com")]

    report = _mailer(server.port, clock).send(emails, Deadline(clock, 0.2))

    assert report.deliveries == [
        Deferred("txn-0000001", DeferReason.DEADLINE),
        Deferred("txn-0000002", DeferReason.DEADLINE),
    ]
    assert server.handler.received == []


def test_a_password_without_a_user_name_is_a_config_error(clock: FakeClock) -> None:
    with pytest.raises(SmtpConfigError, match="user name"):
        SmtpMailer("127.0.0.1", 25, clock=clock, password=PASSWORD)


def test_a_refused_message_body_is_classified_by_reply_code(
    server: Server, clock: FakeClock
) -> None:
    server.handler.data_replies = {
        "spam@example.com": "554 5.7.1 Message rejected",
        "later@example.com": "452 4.3.1 Insufficient storage",
    }
    emails = [
        _email("txn-0000001", "spam@example.com"),
        _email("txn-0000002", "later@example.com"),
        _email("txn-0000003", "fine@example.com"),
    ]

    report = _mailer(server.port, clock).send(emails, Deadline(clock, None))

    assert report.deliveries == [
        Rejected("txn-0000001", RejectReason.MAILER_REJECTED, "smtp_554"),
        Deferred("txn-0000002", DeferReason.TRANSIENT_FAILURE, "smtp_452"),
        Sent("txn-0000003", "<txn-0000003@bank.example>"),
    ]
    assert [received.rcpt_tos for received in server.handler.received] == [["fine@example.com"]]


def test_a_permanently_refused_sender_halts_the_batch(server: Server, clock: FakeClock) -> None:
    server.handler.mail_reply = "553 5.7.1 Sender not allowed"
    emails = [_email("txn-0000001", "jane@example.com"), _email("txn-0000002", "joe@example.com")]

    report = _mailer(server.port, clock).send(emails, Deadline(clock, None))

    assert report.halt == "smtp_sender_refused"
    assert report.deliveries == [
        Deferred("txn-0000001", DeferReason.TRANSIENT_FAILURE, "smtp_sender_refused"),
        Deferred("txn-0000002", DeferReason.SENDING_HALTED, "smtp_sender_refused"),
    ]


def test_an_international_address_goes_out_as_smtputf8(server: Server, clock: FakeClock) -> None:
    outbound = _email("txn-0000001", "jürgen@münchen.example")

    report = _mailer(server.port, clock).send([outbound], Deadline(clock, None))

    assert report.deliveries == [Sent("txn-0000001", "<txn-0000001@bank.example>")]
    (received,) = server.handler.received
    assert received.rcpt_tos == ["jürgen@münchen.example"]
    parsed = email.message_from_string(received.content.decode("utf-8"), policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "jürgen@münchen.example"


def test_an_international_address_is_rejected_by_a_server_without_smtputf8(
    clock: FakeClock,
) -> None:
    emails = [
        _email("txn-0000001", "jürgen@münchen.example"),
        _email("txn-0000002", "jane@example.com"),
    ]

    with _serving(enable_SMTPUTF8=False) as server:
        report = _mailer(server.port, clock).send(emails, Deadline(clock, None))

    assert report.deliveries == [
        Rejected("txn-0000001", RejectReason.UNSUPPORTED_EMAIL, "smtputf8_unsupported"),
        Sent("txn-0000002", "<txn-0000002@bank.example>"),
    ]
    assert [received.rcpt_tos for received in server.handler.received] == [["jane@example.com"]]
