"""A mailer that hands messages to an SMTP server (a local catcher such as Mailpit, or a relay).

One connection per batch, one envelope recipient per message. Replies are classified by their
code: a 4xx is temporary and the alert is Deferred, a 5xx refusal of the recipient or of the
message is permanent and the alert is Rejected. A server that cannot be reached, refuses our
credentials or refuses the sender halts the batch: the alert is not at fault, so every remaining
email is Deferred and the report names the halt.
"""

from __future__ import annotations

import copy
import smtplib
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from adapters.observability import logger
from domain.outcomes import DeferReason, Deferred, Delivery, Rejected, RejectReason, Sent
from domain.ports import Clock, Deadline, MailerReport, OutboundEmail

# A message to a local server takes milliseconds. The socket timeout still bounds a stuck one,
# so a run with a tight deadline can overrun it by up to `timeout`.
MESSAGE_BUDGET_SECONDS = 0.5

# The name we greet the server with; asking the OS for our FQDN can stall on DNS.
EHLO_NAME = "localhost"

# Ids generated for messages that lack one name a reserved domain, never this host.
MESSAGE_ID_DOMAIN = "fraud-alerts.invalid"

RECONNECTS_PER_BATCH = 1


class SmtpConfigError(ValueError):
    """The SMTP settings cannot work (for example a password without a user name)."""


class _HaltError(Exception):
    """Stop sending this batch; `reason` is a safe, stable label for the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Settings:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    timeout: float


class SmtpMailer:
    """Sends each email through `smtplib` to exactly one envelope recipient, `email.recipient`.

    A connection dropped mid-batch (including a 421 reply, after which smtplib closes it) is
    reopened once per batch; the message in flight is tried again on the new connection. If the
    drop came after the server had taken the message, that message is delivered twice: SMTP
    gives no way to tell, and the alternative is losing it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clock: Clock,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        if password is not None and not username:
            raise SmtpConfigError("an SMTP password is set but no SMTP user name")
        if timeout <= 0:
            raise SmtpConfigError("the SMTP timeout must be positive")
        self._settings = _Settings(host, port, username, password, starttls, timeout)
        self._clock = clock

    def __repr__(self) -> str:
        # The password stays out of every repr, traceback and log line.
        settings = self._settings
        return (
            f"SmtpMailer(host={settings.host!r}, port={settings.port}, "
            f"username={settings.username!r}, starttls={settings.starttls})"
        )

    def send(self, emails: Sequence[OutboundEmail], deadline: Deadline) -> MailerReport:
        """Send the batch over one connection; return exactly one delivery per email."""
        started = self._clock.monotonic()
        connection = _Connection(self._settings)
        deliveries: list[Delivery] = []
        halt: str | None = None

        try:
            for email in emails:
                if halt is not None:
                    deliveries.append(_halted(email.alert_key, halt))
                elif not deadline.allows(MESSAGE_BUDGET_SECONDS):
                    deliveries.append(Deferred(email.alert_key, DeferReason.DEADLINE))
                else:
                    delivery, halt = _send_one(connection, email)
                    deliveries.append(delivery)
        finally:
            connection.close()

        _log_batch(deliveries, halt, self._clock.monotonic() - started)
        return MailerReport(deliveries=deliveries, halt=halt)


class _Connection:
    """The batch's SMTP session, opened on first use and reopened at most once."""

    def __init__(self, settings: _Settings) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._opened = False
        self._reconnects_left = RECONNECTS_PER_BATCH

    def session(self) -> smtplib.SMTP:
        """The open session; raises `_HaltError` when it cannot be (re)opened."""
        if self._smtp is not None and self._smtp.sock is not None:
            return self._smtp

        if self._opened:
            if self._reconnects_left == 0:
                raise _HaltError("smtp_unavailable")
            self._reconnects_left -= 1
            logger.info("smtp_reconnecting", host=self._settings.host, port=self._settings.port)

        self._opened = True
        self._smtp = _open(self._settings)
        return self._smtp

    def can_retry(self) -> bool:
        return self._reconnects_left > 0

    def drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()

    def close(self) -> None:
        if self._smtp is None or self._smtp.sock is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            # The batch is already decided; a failed goodbye changes nothing.
            self._smtp.close()


def _open(settings: _Settings) -> smtplib.SMTP:
    smtp = smtplib.SMTP(timeout=settings.timeout, local_hostname=EHLO_NAME)
    try:
        smtp.connect(settings.host, settings.port)
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password or "")
    except smtplib.SMTPAuthenticationError as exc:
        smtp.close()
        logger.error("smtp_login_refused", host=settings.host, smtp_code=exc.smtp_code)
        raise _HaltError("smtp_auth_failed") from exc
    except smtplib.SMTPNotSupportedError as exc:
        smtp.close()
        logger.error("smtp_extension_missing", host=settings.host, starttls=settings.starttls)
        raise _HaltError("smtp_extension_missing") from exc
    except smtplib.SMTPResponseException as exc:
        smtp.close()
        logger.error("smtp_session_refused", host=settings.host, smtp_code=exc.smtp_code)
        raise _HaltError(f"smtp_{exc.smtp_code}") from exc
    except OSError as exc:
        # smtplib's own errors are OSErrors too; what reaches here is the network (refused,
        # unreachable, timed out, TLS handshake) or a dropped greeting.
        smtp.close()
        logger.error(
            "smtp_connect_failed", host=settings.host, port=settings.port, error=type(exc).__name__
        )
        raise _HaltError("smtp_unavailable") from exc

    logger.info(
        "smtp_connected",
        host=settings.host,
        port=settings.port,
        starttls=settings.starttls,
        authenticated=bool(settings.username),
    )
    return smtp


def _send_one(connection: _Connection, email: OutboundEmail) -> tuple[Delivery, str | None]:
    """Send one email; return its delivery and, when the batch must stop, why."""
    message, message_id = _with_message_id(email.message)

    while True:
        try:
            connection.session().send_message(message, to_addrs=[email.recipient])
        except _HaltError as halt:
            return _in_flight(email.alert_key, halt.reason), halt.reason
        except smtplib.SMTPServerDisconnected:
            connection.drop()
            if connection.can_retry():
                continue
            return _in_flight(email.alert_key, "smtp_unavailable"), "smtp_unavailable"
        except smtplib.SMTPException as exc:
            return _refused(email.alert_key, exc)
        except OSError as exc:
            logger.warning(
                "smtp_connection_lost", alert_key=email.alert_key, error=type(exc).__name__
            )
            connection.drop()
            if connection.can_retry():
                continue
            return _in_flight(email.alert_key, "smtp_unavailable"), "smtp_unavailable"
        except ValueError as exc:
            # The generator could not encode a header (UnicodeEncodeError is a ValueError):
            # rendering the same alert again would fail the same way.
            logger.warning(
                "smtp_message_unserialisable", alert_key=email.alert_key, error=type(exc).__name__
            )
            return Rejected(email.alert_key, RejectReason.MAILER_REJECTED, "unserialisable"), None

        logger.debug("smtp_message_sent", alert_key=email.alert_key)
        return Sent(email.alert_key, message_id), None


def _refused(alert_key: str, exc: smtplib.SMTPException) -> tuple[Delivery, str | None]:
    """Classify a refusal by its reply code; only a refused sender stops the batch."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # Exactly one recipient was offered, so exactly one refusal comes back.
        code = next(iter(exc.recipients.values()))[0]
        return _by_code(alert_key, code), None

    if isinstance(exc, smtplib.SMTPSenderRefused):
        if _is_permanent(exc.smtp_code):
            logger.error("smtp_sender_refused", smtp_code=exc.smtp_code)
            return _in_flight(alert_key, "smtp_sender_refused"), "smtp_sender_refused"
        return _by_code(alert_key, exc.smtp_code), None

    if isinstance(exc, smtplib.SMTPNotSupportedError):
        # Raised before any byte is sent when an address needs SMTPUTF8 and the server lacks it.
        return Rejected(alert_key, RejectReason.UNSUPPORTED_EMAIL, "smtputf8_unsupported"), None

    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(alert_key, exc.smtp_code), None

    logger.warning("smtp_unexpected_error", alert_key=alert_key, error=type(exc).__name__)
    return Deferred(alert_key, DeferReason.TRANSIENT_FAILURE, "smtp_error"), None


def _by_code(alert_key: str, code: int) -> Delivery:
    detail = f"smtp_{code}"
    logger.warning("smtp_message_refused", alert_key=alert_key, smtp_code=code)
    if _is_permanent(code):
        return Rejected(alert_key, RejectReason.MAILER_REJECTED, detail)
    return Deferred(alert_key, DeferReason.TRANSIENT_FAILURE, detail)


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


def _in_flight(alert_key: str, reason: str) -> Deferred:
    """The email being sent when the batch had to stop."""
    return Deferred(alert_key, DeferReason.TRANSIENT_FAILURE, reason)


def _halted(alert_key: str, reason: str) -> Deferred:
    """An email the batch did not try because it had already stopped."""
    return Deferred(alert_key, DeferReason.SENDING_HALTED, reason)


def _with_message_id(message: EmailMessage) -> tuple[EmailMessage, str]:
    existing = message.get("Message-ID")
    if existing is not None:
        return message, str(existing).strip()

    # The caller's message stays untouched; the server receives a copy carrying the id we report.
    message_id = _new_message_id()
    stamped = copy.deepcopy(message)
    stamped["Message-ID"] = message_id
    return stamped, message_id


def _log_batch(deliveries: Sequence[Delivery], halt: str | None, elapsed: float) -> None:
    logger.info(
        "smtp_batch_sent",
        emails=len(deliveries),
        sent=sum(isinstance(delivery, Sent) for delivery in deliveries),
        rejected=sum(isinstance(delivery, Rejected) for delivery in deliveries),
        deferred=sum(isinstance(delivery, Deferred) for delivery in deliveries),
        halt=halt,
        elapsed_seconds=round(elapsed, 3),
    )


def _new_message_id() -> str:
    # Short enough that "Message-ID: <id>" fits one 78-character line: a folded header parses
    # back with a leading space, and then no longer equals the id we report.
    return f"<{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>"
