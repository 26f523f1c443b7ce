"""Turn a warehouse row into a sendable alert, or into a rejection with a named reason.

Every rule here decides between "send safely" and "reject with a reason"; the README's bad-input
table lists them. Nothing here raises for bad data.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from babel.numbers import get_currency_precision, list_currencies
from email_validator import EmailNotValidError, validate_email

from domain.alert import Alert, AlertRow
from domain.outcomes import Rejected, RejectReason

_KNOWN_CURRENCIES = frozenset(list_currencies())

# SES takes 7-bit addresses only: no SMTPUTF8, so a non-ASCII local part cannot be sent.
_SEPARATORS = re.compile(r"[,;\s]")

_MAX_LOCAL_PART = 64
_MAX_ADDRESS = 254

# The table holds DECIMAL(18,2): nothing larger can come from it, but a replaced source could.
_MAX_AMOUNT = Decimal("9999999999999999.99")


def validate_row(row: AlertRow) -> Alert | Rejected:
    """Check one claimed row; the first failing rule names the reason."""
    transaction_id = _clean_text(row.transaction_id)
    if not transaction_id:
        return Rejected(row.alert_key, RejectReason.MISSING_TRANSACTION_ID)

    recipient = normalise_address(row.customer_email)
    if isinstance(recipient, RejectReason):
        return Rejected(row.alert_key, recipient)

    amount_problem = _amount_problem(row.amount, row.currency)
    if amount_problem is not None or row.amount is None or row.currency is None:
        return Rejected(row.alert_key, amount_problem or RejectReason.MISSING_AMOUNT)

    return Alert(
        alert_key=row.alert_key,
        transaction_id=transaction_id,
        recipient=recipient,
        customer_name=_clean_text(row.customer_name),
        card_last4=_card_last4(row.card_last4),
        amount=row.amount,
        currency=row.currency.strip().upper(),
        merchant_name=_clean_text(row.merchant_name),
        transaction_time=row.transaction_time,
    )


def normalise_address(raw: str | None) -> str | RejectReason:
    """Return the address SES will be given (ASCII, lower case, punycode domain) or why not."""
    text = (raw or "").strip()
    if not text:
        return RejectReason.MISSING_EMAIL
    if _has_control_character(text):
        return RejectReason.INVALID_EMAIL
    if text.count("@") > 1 or _SEPARATORS.search(text):
        return _multiple_or_invalid(text)

    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        if not text.split("@", 1)[0].isascii():
            return RejectReason.UNSUPPORTED_EMAIL
        return RejectReason.INVALID_EMAIL

    address = checked.ascii_email
    if not address:
        return RejectReason.UNSUPPORTED_EMAIL
    local_part = address.rpartition("@")[0]
    # RFC 5321's limits, which SES applies; email-validator lets a long local part through.
    if len(local_part) > _MAX_LOCAL_PART or len(address) > _MAX_ADDRESS:
        return RejectReason.INVALID_EMAIL
    return address.lower()


def _multiple_or_invalid(text: str) -> RejectReason:
    # "a@x.example, b@y.example" is two addresses; "john at example.com" is just malformed.
    if text.count("@") > 1:
        return RejectReason.MULTIPLE_ADDRESSES
    return RejectReason.INVALID_EMAIL


def _amount_problem(amount: Decimal | None, currency: str | None) -> RejectReason | None:
    if amount is None or not amount.is_finite():
        return RejectReason.MISSING_AMOUNT if amount is None else RejectReason.INVALID_AMOUNT
    if amount < 0 or amount > _MAX_AMOUNT:
        return RejectReason.INVALID_AMOUNT

    code = (currency or "").strip().upper()
    if code not in _KNOWN_CURRENCIES:
        return RejectReason.UNKNOWN_CURRENCY

    # An amount with more decimals than its currency has (JPY 100.50) is a data error upstream;
    # rounding it silently would tell the customer a different amount than was charged.
    exponent = amount.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if decimals > get_currency_precision(code):
        return RejectReason.AMOUNT_PRECISION
    return None


def _card_last4(raw: str | None) -> str | None:
    digits = (raw or "").strip()
    return digits if len(digits) == 4 and digits.isascii() and digits.isdigit() else None


def _clean_text(raw: str | None) -> str | None:
    """Drop control characters (CR, LF, NUL and friends) and surrounding space; empty is None."""
    if raw is None:
        return None
    cleaned = "".join(" " if _is_control(ch) else ch for ch in raw)
    cleaned = " ".join(cleaned.split())
    return cleaned or None


def _has_control_character(text: str) -> bool:
    return any(_is_control(ch) for ch in text)


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"}
