"""Turn a warehouse row into a sendable alert, or into a rejection with a named reason.

Every rule here decides between "send safely" and "reject with a reason"; the README's bad-input
table lists them, one test case per line (tests/unit/test_validation.py). Nothing here raises
for bad data. The rules, column by column, in the order they are checked:

- `transaction_id`: required (else `missing_transaction_id`); cleaned like free text.
- `customer_email`: required (`missing_email`); normalised to what SES takes, see
  `normalise_address`.
- `amount`: required (`missing_amount`); finite, not negative, at most DECIMAL(18,2)'s largest
  value (`invalid_amount`); zero is sent. Negative zero is sent as zero.
- `currency`: an ISO 4217 code customers can pay in, any case, surrounding space ignored
  (`unknown_currency`); the amount may not have more decimals than it has (`amount_precision`).
- `customer_name`, `merchant_name`: optional and cosmetic. Control and format characters become
  spaces, runs of space collapse, empty becomes absent; over-long text is cut. Never rejected.
- `card_last4`: shown only when it is exactly four ASCII digits, otherwise left out.
- `transaction_time`: optional; an aware time is converted to UTC.
- `customer_id`, `fraud_score`, `model_version`, `predicted_at`: not used in the email.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal

from babel.numbers import get_currency_precision, list_currencies
from email_validator import EmailNotValidError, validate_email

from domain.alert import Alert, AlertRow
from domain.outcomes import Rejected, RejectReason

# Codes in ISO 4217 that no card payment is made in: precious metals, bond-market and
# accounting units, funds codes, and the testing and "no currency" codes.
_NOT_TENDER = frozenset(
    {
        "XAG", "XAU", "XPD", "XPT",
        "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XEU", "XFO", "XFU", "XRE",
        "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "USS", "UYI", "UYW",
        "XTS", "XXX",
    }
)  # fmt: skip
_KNOWN_CURRENCIES = frozenset(list_currencies()) - _NOT_TENDER

# What may separate two addresses crammed into one field.
_SEPARATORS = re.compile(r"[,;\s]+")

# RFC 5321's limits, which SES applies.
_MAX_LOCAL_PART = 64
_MAX_ADDRESS = 254

# The table holds DECIMAL(18,2): nothing larger can come from it, but a replaced source could.
_MAX_AMOUNT = Decimal("9999999999999999.99")

# Names and merchants are cosmetic; a page-long one is an upstream fault, not worth rejecting.
MAX_TEXT = 200
_ELLIPSIS = "\u2026"

# Control (Cc), format (Cf: zero-width and bidirectional marks), line and paragraph separators
# and lone surrogates (Cs, which cannot be encoded) never reach a message.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def validate_row(row: AlertRow) -> Alert | Rejected:
    """Check one claimed row; the first failing rule names the reason."""
    transaction_id = clean_text(row.transaction_id)
    if not transaction_id:
        return Rejected(row.alert_key, RejectReason.MISSING_TRANSACTION_ID)

    recipient = normalise_address(row.customer_email)
    if isinstance(recipient, RejectReason):
        return Rejected(row.alert_key, recipient)

    amount = _checked_amount(row.amount, row.currency)
    if isinstance(amount, RejectReason):
        return Rejected(row.alert_key, amount)

    return Alert(
        alert_key=row.alert_key,
        transaction_id=transaction_id,
        recipient=recipient,
        customer_name=_short(clean_text(row.customer_name)),
        card_last4=_card_last4(row.card_last4),
        amount=amount,
        currency=_currency_code(row.currency),
        merchant_name=_short(clean_text(row.merchant_name)),
        transaction_time=_utc(row.transaction_time),
    )


def normalise_address(raw: str | None) -> str | RejectReason:
    """Return the address SES will be given (ASCII, lower case, punycode domain) or why not.

    SES takes 7-bit addresses only (no SMTPUTF8), so a non-ASCII local part cannot be sent; an
    internationalised domain can, as punycode.
    """
    text = (raw or "").strip()
    if not text:
        return RejectReason.MISSING_EMAIL
    if any(_is_dropped(ch) for ch in text):
        return RejectReason.INVALID_EMAIL
    if _SEPARATORS.search(text):
        return _multiple_or_invalid(text)

    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        if not text.rpartition("@")[0].isascii():
            return RejectReason.UNSUPPORTED_EMAIL
        return RejectReason.INVALID_EMAIL

    address = checked.ascii_email
    if not address:
        return RejectReason.UNSUPPORTED_EMAIL
    # email-validator lets a local part over 64 characters through; SES does not.
    if len(address.rpartition("@")[0]) > _MAX_LOCAL_PART or len(address) > _MAX_ADDRESS:
        return RejectReason.INVALID_EMAIL
    return address.lower()


def clean_text(raw: str | None) -> str | None:
    """Drop control characters (CR, LF, NUL and friends) and surrounding space; empty is None."""
    if raw is None:
        return None
    cleaned = "".join(" " if _is_dropped(ch) else ch for ch in raw)
    cleaned = " ".join(cleaned.split())
    return cleaned or None


def _multiple_or_invalid(text: str) -> RejectReason:
    # "a@x.example, b@y.example" is two addresses; "john at example.com" is just malformed.
    with_at = [part for part in _SEPARATORS.split(text) if "@" in part]
    return RejectReason.MULTIPLE_ADDRESSES if len(with_at) > 1 else RejectReason.INVALID_EMAIL


def _checked_amount(amount: Decimal | None, currency: str | None) -> Decimal | RejectReason:
    if amount is None:
        return RejectReason.MISSING_AMOUNT
    if not amount.is_finite() or amount < 0 or amount > _MAX_AMOUNT:
        return RejectReason.INVALID_AMOUNT

    code = _currency_code(currency)
    if code not in _KNOWN_CURRENCIES:
        return RejectReason.UNKNOWN_CURRENCY

    # An amount with more decimals than its currency has (JPY 100.50) is a data error upstream;
    # rounding it silently would tell the customer a different amount than was charged.
    if _decimals(amount) > get_currency_precision(code):
        return RejectReason.AMOUNT_PRECISION

    # A zero-value authorisation is how stolen cards are tested, so it is worth an alert; its
    # sign is noise ("-€0.00" would only confuse).
    return amount.copy_abs() if amount.is_zero() else amount


def _decimals(amount: Decimal) -> int:
    # Trailing zeros do not count: JPY 427100.00 is a whole number of yen.
    exponent = amount.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _currency_code(raw: str | None) -> str:
    code = (raw or "").strip()
    # Upper-casing non-ASCII can land on ASCII (dotless "\u0131ls" becomes "ILS"): not a code.
    return code.upper() if code.isascii() else ""


def _card_last4(raw: str | None) -> str | None:
    digits = (raw or "").strip()
    return digits if len(digits) == 4 and digits.isascii() and digits.isdigit() else None


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[: MAX_TEXT - 1].rstrip() + _ELLIPSIS


def _utc(moment: datetime | None) -> datetime | None:
    # The warehouse's TIMESTAMP has no zone and holds UTC; a zoned value is converted to match.
    if moment is None or moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        # 0001-01-01 00:00 at UTC-1 is before the first representable moment.
        return None


def _is_dropped(ch: str) -> bool:
    return unicodedata.category(ch) in _DROPPED_CATEGORIES
