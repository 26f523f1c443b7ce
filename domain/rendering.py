"""Render an alert as the customer's email: a plain-text part, an HTML part, safe headers.

Templates are Jinja2 files a bank can replace (`alert.txt.j2`, `alert.html.j2`, `subject.txt.j2`),
rendered in a sandbox; the HTML is autoescaped, so markup in data shows as text. Amounts are
formatted from `Decimal` with their currency by Babel, never through float.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from babel.numbers import format_currency
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from domain.alert import Alert
from domain.ports import OutboundEmail

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"

# Long display names are truncated: they are cosmetic, and a header has practical limits.
_MAX_DISPLAY_NAME = 80


@dataclass(frozen=True, slots=True)
class Sender:
    """Who the email is from: the verified address and the name customers see."""

    address: str
    name: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


class AlertRenderer:
    """Builds one `OutboundEmail` per alert from the bank's templates."""

    def __init__(
        self, sender: Sender, *, template_dir: Path = DEFAULT_TEMPLATES, locale: str = "en_GB"
    ) -> None:
        self._sender = sender
        self._locale = locale
        self._env = SandboxedEnvironment(
            loader=FileSystemLoader(template_dir),
            autoescape=lambda name: bool(name and name.endswith(".html.j2")),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._text = self._env.get_template("alert.txt.j2")
        self._html = self._env.get_template("alert.html.j2")
        self._subject = self._env.get_template("subject.txt.j2")

    def render(self, alert: Alert, now: datetime) -> OutboundEmail:
        """Render `alert`; headers carry only the configured sender, one recipient and the subject."""
        context = self._context(alert)

        message = EmailMessage()
        message["From"] = Address(display_name=self._sender.name, addr_spec=self._sender.address)
        message["To"] = Address(display_name=_display_name(alert.customer_name), addr_spec=alert.recipient)
        message["Subject"] = _one_line(self._subject.render(context))
        message["Date"] = format_datetime(now.replace(microsecond=0, tzinfo=UTC))
        message["Message-ID"] = _message_id(alert, now, self._sender.domain)
        message["Auto-Submitted"] = "auto-generated"

        message.set_content(self._text.render(context))
        message.add_alternative(self._html.render(context), subtype="html")

        return OutboundEmail(
            alert_key=alert.alert_key,
            recipient=alert.recipient,
            message=message,
            tags=(("transaction_id", alert.transaction_id),),
        )

    def _context(self, alert: Alert) -> dict[str, object]:
        return {
            "sender_name": self._sender.name,
            "customer_name": alert.customer_name,
            "card_last4": alert.card_last4,
            "amount": format_currency(alert.amount, alert.currency, locale=self._locale),
            "merchant_name": alert.merchant_name,
            "transaction_time": (
                alert.transaction_time.strftime("%d %b %Y, %H:%M UTC")
                if alert.transaction_time
                else None
            ),
            "transaction_id": alert.transaction_id,
        }


def _display_name(name: str | None) -> str:
    return (name or "")[:_MAX_DISPLAY_NAME]


def _one_line(text: str) -> str:
    # A subject template could render a newline; a header must never carry one.
    return " ".join(text.split())


def _message_id(alert: Alert, now: datetime, domain: str) -> str:
    # Unique per attempt, and says nothing about the customer.
    digest = hashlib.sha256(f"{alert.alert_key}|{now.isoformat()}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"
