from decimal import Decimal

import pytest

from domain.alert import Alert
from domain.outcomes import Rejected, RejectReason
from domain.validation import normalise_address, validate_row
from tests.fakes import alert_row


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane.doe@example.com", "jane.doe@example.com"),
        ("  CUSTOMER377245@EXAMPLE.COM ", "customer377245@example.com"),
        ("goyejun@bücher.example", "goyejun@xn--bcher-kva.example"),
        ("vhoang@例え.example", "vhoang@xn--r8jz45g.example"),
        ("customer49587@пример.example", "customer49587@xn--e1afmkfd.example"),
        (None, RejectReason.MISSING_EMAIL),
        ("   ", RejectReason.MISSING_EMAIL),
        ("tharrington at example.com", RejectReason.INVALID_EMAIL),
        ("jösé@example.com", RejectReason.UNSUPPORTED_EMAIL),
        ("a@example.com, b@example.com", RejectReason.MULTIPLE_ADDRESSES),
        ("a@example.com;b@example.com", RejectReason.MULTIPLE_ADDRESSES),
        ("jane@localhost", RejectReason.INVALID_EMAIL),
        ("jane\r\nBcc: x@example.com@example.com", RejectReason.INVALID_EMAIL),
        ("ja\x00ne@example.com", RejectReason.INVALID_EMAIL),
        ("x" * 65 + "@example.com", RejectReason.INVALID_EMAIL),
    ],
)
def test_addresses_are_normalised_or_rejected_with_a_reason(raw, expected):
    assert normalise_address(raw) == expected


def test_a_valid_row_becomes_an_alert_with_clean_fields():
    row = alert_row(customer_name="  Jane\r\nDoe ", currency=" eur", card_last4="12a4")

    alert = validate_row(row)

    assert isinstance(alert, Alert)
    assert alert.customer_name == "Jane Doe"
    assert alert.currency == "EUR"
    assert alert.card_last4 is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"transaction_id": "  "}, RejectReason.MISSING_TRANSACTION_ID),
        ({"customer_email": None}, RejectReason.MISSING_EMAIL),
        ({"amount": None}, RejectReason.MISSING_AMOUNT),
        ({"amount": Decimal("-1.00")}, RejectReason.INVALID_AMOUNT),
        ({"amount": Decimal("NaN")}, RejectReason.INVALID_AMOUNT),
        ({"amount": Decimal("1e20")}, RejectReason.INVALID_AMOUNT),
        ({"currency": "XXQ"}, RejectReason.UNKNOWN_CURRENCY),
        ({"currency": None}, RejectReason.UNKNOWN_CURRENCY),
        ({"currency": "JPY", "amount": Decimal("100.50")}, RejectReason.AMOUNT_PRECISION),
        ({"currency": "EUR", "amount": Decimal("1.005")}, RejectReason.AMOUNT_PRECISION),
    ],
)
def test_rows_that_cannot_be_emailed_are_rejected_with_their_reason(overrides, reason):
    result = validate_row(alert_row(**overrides))

    assert result == Rejected("txn-1", reason) or (
        isinstance(result, Rejected) and result.reason is reason
    )


def test_whole_yen_with_trailing_zero_decimals_is_accepted():
    result = validate_row(alert_row(currency="JPY", amount=Decimal("427100.00")))

    assert isinstance(result, Alert)
    assert result.amount == Decimal("427100.00")
