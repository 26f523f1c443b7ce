"""OutboxMailer against a real temporary folder: files a mail client can open, written safely."""

from __future__ import annotations

import email
import os
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from adapters.mail.outbox import OutboxMailer, OutboxNotWritableError
from domain.outcomes import DeferReason, Deferred, Sent
from domain.ports import Deadline, OutboundEmail
from tests.fakes import FakeClock

SENDER = "Card Security <alerts@bank.example>"


def _email(
    alert_key: str,
    recipient: str = "jane@example.com",
    *,
    display_name: str = "Jane Doe",
    message_id: str | None = "auto",
) -> OutboundEmail:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = f"{display_name} <{recipient}>"
    message["Subject"] = f"Did you make this payment? ({alert_key})"
    if message_id == "auto":
        message["Message-ID"] = f"<m{alert_key.encode().hex()}@bank.example>"
    elif message_id is not None:
        message["Message-ID"] = message_id
    message.set_content("We stopped a payment that looked unusual.\n")
    message.add_alternative(
        "<p>We stopped a payment that <b>looked unusual</b>.</p>", subtype="html"
    )
    return OutboundEmail(alert_key=alert_key, recipient=recipient, message=message)


def _read(path: Path) -> EmailMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


class TickingClock(FakeClock):
    """Every reading of the monotonic clock costs 0.3 s: a slow run, without sleeping."""

    def monotonic(self) -> float:
        value = super().monotonic()
        self.advance(0.3)
        return value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def no_deadline(clock: FakeClock) -> Deadline:
    return Deadline(clock, None)


def test_each_email_becomes_one_crlf_eml_file_that_parses_back(
    tmp_path: Path, clock: FakeClock, no_deadline: Deadline
) -> None:
    outbox = tmp_path / "outbox"
    mailer = OutboxMailer(outbox, clock=clock)
    emails = [_email(f"txn-000000{n}", f"customer{n}@example.org") for n in range(1, 4)]

    report = mailer.send(emails, no_deadline)

    assert report.halt is None
    assert report.deliveries == [
        Sent(item.alert_key, str(item.message["Message-ID"])) for item in emails
    ]
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 3
    for item in emails:
        raw = mailer.path_for(item.alert_key).read_bytes()
        assert b"\n" not in raw.replace(b"\r\n", b"")
        parsed = _read(mailer.path_for(item.alert_key))
        assert parsed["Subject"] == item.message["Subject"]
        assert parsed["To"].addresses[0].addr_spec == item.recipient
        assert parsed.get_body(("html",)) is not None


def test_a_message_without_message_id_gets_one_in_the_file_and_the_report(
    tmp_path: Path, clock: FakeClock, no_deadline: Deadline
) -> None:
    mailer = OutboxMailer(tmp_path, clock=clock)
    outbound = _email("txn-0000042", message_id=None)

    report = mailer.send([outbound], no_deadline)

    (delivery,) = report.deliveries
    assert isinstance(delivery, Sent)
    assert delivery.message_id.startswith("<")
    assert delivery.message_id.endswith(">")
    assert _read(mailer.path_for("txn-0000042"))["Message-ID"] == delivery.message_id
    assert outbound.message["Message-ID"] is None


@pytest.mark.parametrize(
    "hostile_keys",
    [
        ["../../etc/passwd", "..", ".", "", "/abs/path", "C:\\Windows\\x", "CON", "nul\x00byte"],
        ["txn/1", "txn_1", "txn:1", "txn 1", "txn\\1", "TXN_1", "txn-1"],
    ],
)
def test_alert_keys_cannot_escape_the_folder_or_share_a_file(
    tmp_path: Path, clock: FakeClock, no_deadline: Deadline, hostile_keys: list[str]
) -> None:
    outbox = tmp_path / "outbox"
    mailer = OutboxMailer(outbox, clock=clock)

    report = mailer.send([_email(key) for key in hostile_keys], no_deadline)

    assert all(isinstance(delivery, Sent) for delivery in report.deliveries)
    written = sorted(path.name for path in outbox.iterdir())
    assert len(written) == len(hostile_keys)
    assert all(name.endswith(".eml") and not name.startswith(".") for name in written)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["outbox"]
    assert {mailer.path_for(key).parent for key in hostile_keys} == {outbox}


def test_international_addresses_are_written_as_utf8_headers(
    tmp_path: Path, clock: FakeClock, no_deadline: Deadline
) -> None:
    mailer = OutboxMailer(tmp_path, clock=clock)
    outbound = _email("txn-0000077", "jürgen@münchen.example", display_name="Jürgen Müller")

    report = mailer.send([outbound], no_deadline)

    assert isinstance(report.deliveries[0], Sent)
    raw = mailer.path_for("txn-0000077").read_bytes()
    assert "jürgen@münchen.example".encode() in raw
    # RFC 6532 headers are UTF-8 text; the stdlib parses them from a decoded string.
    parsed = email.message_from_string(raw.decode("utf-8"), policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "jürgen@münchen.example"
    assert parsed["To"].addresses[0].display_name == "Jürgen Müller"


def test_sending_the_same_alert_again_replaces_its_file(
    tmp_path: Path, clock: FakeClock, no_deadline: Deadline
) -> None:
    mailer = OutboxMailer(tmp_path, clock=clock)

    mailer.send([_email("txn-0000005", message_id="<first@bank.example>")], no_deadline)
    report = mailer.send([_email("txn-0000005", message_id="<second@bank.example>")], no_deadline)

    assert report.deliveries == [Sent("txn-0000005", "<second@bank.example>")]
    assert [path.name for path in tmp_path.iterdir()] == [mailer.path_for("txn-0000005").name]
    assert _read(mailer.path_for("txn-0000005"))["Message-ID"] == "<second@bank.example>"


def test_a_failed_write_defers_the_email_and_leaves_no_partial_file(
    tmp_path: Path, clock: FakeClock, no_deadline: Deadline, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailer = OutboxMailer(tmp_path, clock=clock)

    def disk_full(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    report = mailer.send([_email("txn-0000009")], no_deadline)

    assert report.deliveries == [
        Deferred("txn-0000009", DeferReason.TRANSIENT_FAILURE, "outbox_write")
    ]
    assert list(tmp_path.iterdir()) == []


def test_emails_past_the_deadline_are_deferred_and_not_written(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path, clock=FakeClock())
    deadline = Deadline(TickingClock(), 1.0)
    emails = [_email(f"txn-000010{n}") for n in range(3)]

    report = mailer.send(emails, deadline)

    assert report.deliveries[0] == Sent("txn-0000100", str(emails[0].message["Message-ID"]))
    assert report.deliveries[1:] == [
        Deferred("txn-0000101", DeferReason.DEADLINE),
        Deferred("txn-0000102", DeferReason.DEADLINE),
    ]
    assert [path.name for path in tmp_path.iterdir()] == [mailer.path_for("txn-0000100").name]


def test_an_empty_batch_reports_nothing(tmp_path: Path, clock: FakeClock) -> None:
    report = OutboxMailer(tmp_path, clock=clock).send([], Deadline(clock, 0))

    assert report.deliveries == []
    assert report.halt is None


def test_the_folder_and_its_parents_are_created(tmp_path: Path, clock: FakeClock) -> None:
    outbox = tmp_path / "a" / "b" / "outbox"

    OutboxMailer(outbox, clock=clock)

    assert outbox.is_dir()
    assert list(outbox.iterdir()) == []


@pytest.mark.parametrize("relative", ["occupied", "occupied/outbox"])
def test_an_unusable_folder_fails_at_construction_naming_the_path(
    tmp_path: Path, clock: FakeClock, relative: str
) -> None:
    (tmp_path / "occupied").write_text("a file where the outbox should be")
    outbox = tmp_path / relative

    with pytest.raises(OutboxNotWritableError) as raised:
        OutboxMailer(outbox, clock=clock)

    assert str(outbox) in str(raised.value)
    assert raised.value.path == outbox
