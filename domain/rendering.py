"""Render an alert as the customer's email: a plain-text part, an HTML part, safe headers.

Templates are Jinja2 files a bank can replace (`alert.txt.j2`, `alert.html.j2`, `subject.txt.j2`),
rendered in a sandbox; the HTML is autoescaped, so markup in data shows as text. Amounts are
formatted from `Decimal` with their currency by Babel, never through float.
"""

from __future__ import annotations

import email.policy
import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from babel.numbers import format_currency
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from domain.alert import Alert
from domain.ports import OutboundEmail
from domain.validation import clean_text

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"

# Long display names are truncated: they are cosmetic, and a header has practical limits.
MAX_DISPLAY_NAME = 80

# "=?" opens an RFC 2047 encoded word: a name spelling one out would be decoded by the
# recipient's mail program into something else ("=?utf-8?q?Your=20Bank?=" shows as "Your Bank").
_ENCODED_WORD_START = "=?"


@dataclass(frozen=True, slots=True)
class Sender:
    """Who the email is from: the verified address and the name customers see."""

    address: str
    name: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


_SAMPLE_ALERT = Alert(
    alert_key="self-check",
    transaction_id="self-check",
    recipient="customer@example.com",
    customer_name="Sample Customer",
    card_last4="0000",
    amount=Decimal("12.34"),
    currency="EUR",
    merchant_name="Sample Merchant",
    transaction_time=datetime(2026, 1, 1, 12, 0, 0),
)


class _CachedHeaderRegistry(HeaderRegistry):
    """The stdlib's header registry, minus its cost: CPython builds a new class for every
    header it parses (`HeaderRegistry.__getitem__`), which was a fifth of rendering's CPU.
    The classes are stateless, so one per header name serves every message."""

    @functools.cache  # noqa: B019 - one registry lives as long as the process, by design
    def __getitem__(self, name: str) -> type[BaseHeader]:
        return super().__getitem__(name)


_POLICY = email.policy.default.clone(header_factory=_CachedHeaderRegistry())


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

    def self_check(self, now: datetime) -> None:
        """Render a made-up alert, so a broken template fails at start-up, not mid-batch."""
        self.render(_SAMPLE_ALERT, now)

    def render(self, alert: Alert, now: datetime) -> OutboundEmail:
        """Render `alert`; headers carry only the configured sender, one recipient, the subject."""
        context = self._context(alert)

        message = EmailMessage(policy=_POLICY)
        message["From"] = Address(display_name=self._sender.name, addr_spec=self._sender.address)
        message["To"] = Address(
            display_name=display_name(alert.customer_name), addr_spec=alert.recipient
        )
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


def display_name(name: str | None) -> str:
    """The customer's name as the To header carries it: one line, cut short, never an encoded word.

    The header parses back to exactly this name and the one intended address, whatever the
    name's script or punctuation (commas, quotes, parentheses, `<`, `@`). Python's own parser
    adds a space where a long name was split into two encoded words (CPython issue 128110);
    mail programs, following RFC 2047, do not.
    """
    return _header_text(name)[:MAX_DISPLAY_NAME].rstrip()


def _one_line(text: str) -> str:
    # A bank's subject template could render a newline or data; a header must never carry one.
    return _header_text(text)


def _header_text(text: str | None) -> str:
    return (clean_text(text) or "").replace(_ENCODED_WORD_START, "= ?")


def _message_id(alert: Alert, now: datetime, domain: str) -> str:
    # Unique per attempt, and says nothing about the customer.
    digest = hashlib.sha256(f"{alert.alert_key}|{now.isoformat()}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"
