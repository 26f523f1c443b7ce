"""A mailer that writes every message as an `.eml` file into a folder: the local, offline outbox.

Each file is the complete RFC 5322 message with CRLF line endings, as it would travel over SMTP,
so any mail client opens it. A message whose addresses are not ASCII is written as RFC 6532
(UTF-8 headers), the form an SMTPUTF8 server would receive, rather than with encoded words
inside an address, which RFC 2047 forbids.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from pathlib import Path

from adapters.observability import logger
from domain.outcomes import DeferReason, Deferred, Delivery, Rejected, RejectReason, Sent
from domain.ports import Clock, Deadline, MailerReport, OutboundEmail

# Writing one file takes milliseconds; half a second leaves room for a slow disk.
MESSAGE_BUDGET_SECONDS = 0.5

# Message ids generated for messages that lack one name a reserved domain, never this host.
MESSAGE_ID_DOMAIN = "fraud-alerts.invalid"

_ADDRESS_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_STEM_CHARS = 64


class OutboxError(Exception):
    """Base of the outbox mailer's errors."""


class OutboxNotWritableError(OutboxError):
    """The outbox folder cannot be created or written; a configuration problem, not a message's."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(f"outbox folder {path} is not writable: {cause.strerror or cause}")
        self.path = path


class OutboxMailer:
    """Delivers each email as one `.eml` file in `outbox`, written atomically.

    The file is named from the alert key (sanitised, plus a hash of the whole key, so two keys
    never share a file and no key can name a path outside the folder). Sending the same alert
    again replaces its file and logs a warning: the outbox holds the last message per alert.
    """

    def __init__(self, outbox: Path, *, clock: Clock) -> None:
        self._outbox = Path(outbox)
        self._clock = clock
        _ensure_writable(self._outbox)

    @property
    def outbox(self) -> Path:
        return self._outbox

    def send(self, emails: Sequence[OutboundEmail], deadline: Deadline) -> MailerReport:
        """Write one file per email; emails the deadline leaves no time for are Deferred."""
        started = self._clock.monotonic()
        deliveries: list[Delivery] = []

        for email in emails:
            if not deadline.allows(MESSAGE_BUDGET_SECONDS):
                deliveries.append(Deferred(email.alert_key, DeferReason.DEADLINE))
                continue
            deliveries.append(self._deliver(email))

        logger.info(
            "outbox_batch_written",
            outbox=str(self._outbox),
            emails=len(emails),
            sent=sum(isinstance(delivery, Sent) for delivery in deliveries),
            deferred=sum(isinstance(delivery, Deferred) for delivery in deliveries),
            rejected=sum(isinstance(delivery, Rejected) for delivery in deliveries),
            elapsed_seconds=round(self._clock.monotonic() - started, 3),
        )
        return MailerReport(deliveries=deliveries)

    def path_for(self, alert_key: str) -> Path:
        """The file an alert's message is written to."""
        return self._outbox / f"{eml_stem(alert_key)}.eml"

    def _deliver(self, email: OutboundEmail) -> Delivery:
        message_id = email.message.get("Message-ID")
        extra_headers = b""
        if message_id is None:
            # The caller's message is left untouched: the generated id goes into the file only.
            message_id = _new_message_id()
            extra_headers = f"Message-ID: {message_id}\r\n".encode("ascii")

        try:
            content = extra_headers + _to_bytes(email.message)
        except ValueError as exc:
            # A header the generator cannot encode (UnicodeEncodeError is a ValueError): the
            # same rendering would fail on every retry.
            logger.warning(
                "outbox_message_unserialisable", alert_key=email.alert_key, error=type(exc).__name__
            )
            return Rejected(email.alert_key, RejectReason.MAILER_REJECTED, detail="unserialisable")

        target = self.path_for(email.alert_key)
        replacing = target.exists()
        try:
            _write_atomically(target, content)
        except OSError as exc:
            logger.warning(
                "outbox_write_failed", alert_key=email.alert_key, errno=exc.errno, path=str(target)
            )
            return Deferred(email.alert_key, DeferReason.TRANSIENT_FAILURE, detail="outbox_write")

        if replacing:
            logger.warning("outbox_message_replaced", alert_key=email.alert_key, path=str(target))
        logger.debug("outbox_message_written", alert_key=email.alert_key, path=str(target))
        return Sent(email.alert_key, str(message_id).strip())


def eml_stem(alert_key: str) -> str:
    """A file name stem that is safe on any file system and unique per alert key.

    The readable part keeps only ASCII letters, digits, `_` and `-`, so no separator, dot or
    device name survives; the hash over the full key tells apart keys that sanitise alike.
    """
    readable = _UNSAFE_NAME_CHARS.sub("_", alert_key).strip("_")[:_MAX_STEM_CHARS] or "alert"
    digest = hashlib.sha256(alert_key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{readable}-{digest}"


def _ensure_writable(outbox: Path) -> None:
    try:
        outbox.mkdir(parents=True, exist_ok=True)
        # os.access is unreliable (it ignores ACLs and is always true for root): try for real.
        handle, probe = tempfile.mkstemp(dir=outbox, prefix=".probe-", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise OutboxNotWritableError(outbox, exc) from exc


def _to_bytes(message: EmailMessage) -> bytes:
    smtp_policy = policy.SMTPUTF8 if _has_international_address(message) else policy.SMTP
    return message.as_bytes(policy=smtp_policy)


def _has_international_address(message: EmailMessage) -> bool:
    for name in _ADDRESS_HEADERS:
        for header in message.get_all(name, []):
            addresses = getattr(header, "addresses", ())
            if any(not address.addr_spec.isascii() for address in addresses):
                return True
    return False


def _write_atomically(target: Path, content: bytes) -> None:
    # Dot-prefixed temporary names are skipped by mail clients and by `*.eml` globs; os.replace
    # is atomic on one file system, so a reader sees the whole message or none.
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _new_message_id() -> str:
    # Short enough that "Message-ID: <id>" fits one 78-character line: a folded header parses
    # back with a leading space, and then no longer equals the id we report.
    return f"<{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>"
