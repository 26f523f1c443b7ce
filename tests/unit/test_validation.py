"""The bad-input catalogue: one case per line of the README's table, column by column.

Each case names the column, the input and the outcome: rejected with a reason code, or sent,
with what the customer's email then shows. The ids are the table's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from email.utils import getaddresses
from typing import Any

import pytest

from domain.alert import Alert
from domain.outcomes import Rejected, RejectReason
from domain.rendering import AlertRenderer, Sender
from domain.validation import MAX_TEXT, normalise_address, validate_row
from tests.fakes import alert_row
from tests.mail import body, parse_sent

NOW = datetime(2026, 11, 30, 14, 0, 0)
RENDERER = AlertRenderer(Sender("alerts@bank.example", "Example Bank"))


@dataclass(frozen=True)
class Sends:
    """The row is sent: `alert` fields have these values, the text part shows and hides these
    lines, the HTML part shows these, and the To header parses back to this name."""

    alert: dict[str, object] = field(default_factory=dict)
    shows: tuple[str, ...] = ()
    hides: tuple[str, ...] = ()
    html: tuple[str, ...] = ()
    to_name: str | None = None


@dataclass(frozen=True)
class Case:
    column: str
    given: str
    row: dict[str, Any]
    outcome: Sends | RejectReason

    @property
    def id(self) -> str:
        return f"{self.column}: {self.given}"


R = RejectReason
LONG = "Ä" * (MAX_TEXT + 50)
# Every label at most 63 characters and the local part 64: only the total length is wrong.
LONG_ADDRESS = "x" * 64 + "@" + ".".join(["d" * 63] * 3) + ".example"

CATALOGUE = [
    # transaction_id
    Case("transaction_id", "missing", {"transaction_id": None}, R.MISSING_TRANSACTION_ID),
    Case("transaction_id", "empty or spaces", {"transaction_id": "  "}, R.MISSING_TRANSACTION_ID),
    Case(
        "transaction_id",
        "control characters only",
        {"transaction_id": "\r\n\x00"},
        R.MISSING_TRANSACTION_ID,
    ),
    Case(
        "transaction_id",
        "surrounding space or control characters",
        {"transaction_id": " txn-9\r\n"},
        Sends({"transaction_id": "txn-9"}, shows=("Reference: txn-9",)),
    ),
    # customer_id
    Case("customer_id", "missing or garbage", {"customer_id": "\x00<b>"}, Sends()),
    # customer_email
    Case("customer_email", "missing", {"customer_email": None}, R.MISSING_EMAIL),
    Case("customer_email", "empty or spaces", {"customer_email": " \t "}, R.MISSING_EMAIL),
    Case(
        "customer_email",
        "surrounding spaces, upper case",
        {"customer_email": "  CUSTOMER377245@EXAMPLE.COM "},
        Sends({"recipient": "customer377245@example.com"}),
    ),
    Case(
        "customer_email",
        "internationalised domain",
        {"customer_email": "goyejun@Bücher.example"},
        Sends({"recipient": "goyejun@xn--bcher-kva.example"}),
    ),
    Case(
        "customer_email",
        "non-ASCII local part",
        {"customer_email": "jösé@example.com"},
        R.UNSUPPORTED_EMAIL,
    ),
    Case(
        "customer_email", "no @", {"customer_email": "tharrington at example.com"}, R.INVALID_EMAIL
    ),
    Case(
        "customer_email",
        "no dot in the domain",
        {"customer_email": "jane@localhost"},
        R.INVALID_EMAIL,
    ),
    Case(
        "customer_email",
        "reserved domain (.local, .test)",
        {"customer_email": "jane@shop.local"},
        R.INVALID_EMAIL,
    ),
    Case(
        "customer_email",
        "local part over 64 characters",
        {"customer_email": "x" * 65 + "@example.com"},
        R.INVALID_EMAIL,
    ),
    Case(
        "customer_email",
        "address over 254 characters",
        {"customer_email": LONG_ADDRESS},
        R.INVALID_EMAIL,
    ),
    Case(
        "customer_email",
        "domain label over 63 characters",
        {"customer_email": "x@" + "d" * 64 + ".example"},
        R.INVALID_EMAIL,
    ),
    Case(
        "customer_email",
        "two addresses, comma",
        {"customer_email": "a@example.com, b@example.com"},
        R.MULTIPLE_ADDRESSES,
    ),
    Case(
        "customer_email",
        "two addresses, semicolon",
        {"customer_email": "a@example.com;b@example.com"},
        R.MULTIPLE_ADDRESSES,
    ),
    Case(
        "customer_email",
        "two addresses, space",
        {"customer_email": "a@example.com b@example.com"},
        R.MULTIPLE_ADDRESSES,
    ),
    Case("customer_email", "two @ signs", {"customer_email": "a@b@example.com"}, R.INVALID_EMAIL),
    Case(
        "customer_email",
        "CR LF (header injection)",
        {"customer_email": "jane@example.com\r\nBcc: x@example.com"},
        R.INVALID_EMAIL,
    ),
    Case("customer_email", "NUL", {"customer_email": "ja\x00ne@example.com"}, R.INVALID_EMAIL),
    Case(
        "customer_email",
        "zero-width or bidi character",
        {"customer_email": "ja\u200bne@example.com"},
        R.INVALID_EMAIL,
    ),
    Case(
        "customer_email",
        "name and address (Jane <jane@…>)",
        {"customer_email": "Jane <jane@example.com>"},
        R.INVALID_EMAIL,
    ),
    Case(
        "customer_email",
        "quoted local part",
        {"customer_email": '"jane doe"@example.com'},
        R.INVALID_EMAIL,
    ),
    Case(
        "customer_email",
        "IP literal domain",
        {"customer_email": "jane@[127.0.0.1]"},
        R.INVALID_EMAIL,
    ),
    Case("customer_email", "markup", {"customer_email": "<script>@example.com"}, R.INVALID_EMAIL),
    # customer_name
    Case(
        "customer_name",
        "missing, empty or spaces",
        {"customer_name": "  "},
        Sends({"customer_name": None}, shows=("Dear customer,",), to_name=""),
    ),
    Case(
        "customer_name",
        "CR, LF, NUL, zero-width characters",
        {"customer_name": "Jane\r\nBcc: x@example.com\x00\u200b"},
        Sends(
            {"customer_name": "Jane Bcc: x@example.com"}, shows=("Dear Jane Bcc: x@example.com,",)
        ),
    ),
    Case(
        "customer_name",
        "markup",
        {"customer_name": "<b>Jane</b>"},
        Sends(
            {"customer_name": "<b>Jane</b>"},
            shows=("Dear <b>Jane</b>,",),
            html=("Dear &lt;b&gt;Jane&lt;/b&gt;,",),
            to_name="<b>Jane</b>",
        ),
    ),
    Case(
        "customer_name",
        "commas, quotes, parentheses",
        {"customer_name": 'Arsoy, Jr. "Ali" (Piran)'},
        Sends(shows=('Dear Arsoy, Jr. "Ali" (Piran),',), to_name='Arsoy, Jr. "Ali" (Piran)'),
    ),
    Case(
        "customer_name",
        "any script",
        {"customer_name": "이병철"},
        Sends(shows=("Dear 이병철,",), to_name="이병철"),
    ),
    Case(
        "customer_name",
        "looks like an encoded word",
        {"customer_name": "=?utf-8?q?Your_Bank?="},
        Sends(shows=("Dear =?utf-8?q?Your_Bank?=,",), to_name="= ?utf-8?q?Your_Bank?="),
    ),
    Case(
        "customer_name",
        f"over {MAX_TEXT} characters",
        {"customer_name": LONG},
        Sends({"customer_name": "Ä" * (MAX_TEXT - 1) + "…"}),
    ),
    # card_last4
    Case(
        "card_last4",
        "missing",
        {"card_last4": None},
        Sends({"card_last4": None}, hides=("Card:",)),
    ),
    Case(
        "card_last4",
        "not four ASCII digits",
        {"card_last4": "\uff11\uff12\uff13\uff14"},
        Sends({"card_last4": None}, hides=("Card:",)),
    ),
    Case(
        "card_last4",
        "surrounding spaces",
        {"card_last4": " 4242 "},
        Sends({"card_last4": "4242"}, shows=("Card:      ending 4242",)),
    ),
    # amount
    Case("amount", "missing", {"amount": None}, R.MISSING_AMOUNT),
    Case("amount", "NaN", {"amount": Decimal("NaN")}, R.INVALID_AMOUNT),
    Case("amount", "infinite", {"amount": Decimal("Infinity")}, R.INVALID_AMOUNT),
    Case("amount", "negative", {"amount": Decimal("-1.00")}, R.INVALID_AMOUNT),
    Case(
        "amount",
        "over DECIMAL(18,2)'s largest",
        {"amount": Decimal("1e16")},
        R.INVALID_AMOUNT,
    ),
    Case(
        "amount",
        "DECIMAL(18,2)'s largest",
        {"amount": Decimal("9999999999999999.99")},
        Sends(shows=("€9,999,999,999,999,999.99",)),
    ),
    Case("amount", "zero", {"amount": Decimal("0.00")}, Sends(shows=("Amount:    €0.00",))),
    Case(
        "amount",
        "negative zero",
        {"amount": Decimal("-0.00")},
        Sends(shows=("Amount:    €0.00",), hides=("-€",)),
    ),
    Case(
        "amount",
        "more decimals than the currency has",
        {"amount": Decimal("100.50"), "currency": "JPY"},
        R.AMOUNT_PRECISION,
    ),
    Case(
        "amount",
        "fractions of a cent",
        {"amount": Decimal("1.005"), "currency": "EUR"},
        R.AMOUNT_PRECISION,
    ),
    Case(
        "amount",
        "trailing zero decimals on a whole-unit currency",
        {"amount": Decimal("427100.00"), "currency": "JPY"},
        Sends({"amount": Decimal("427100.00")}, shows=("¥427,100",)),
    ),
    Case(
        "amount",
        "three decimals where the currency has three",
        {"amount": Decimal("1.234"), "currency": "BHD"},
        Sends(shows=("BHD1.234",)),
    ),
    # currency
    Case("currency", "missing", {"currency": None}, R.UNKNOWN_CURRENCY),
    Case("currency", "empty or spaces", {"currency": " "}, R.UNKNOWN_CURRENCY),
    Case(
        "currency",
        "lower case, surrounding spaces",
        {"currency": " eur "},
        Sends({"currency": "EUR"}),
    ),
    Case("currency", "unknown code", {"currency": "XXQ"}, R.UNKNOWN_CURRENCY),
    Case(
        "currency",
        "not money (XAU, XXX, XTS, funds codes)",
        {"currency": "XAU"},
        R.UNKNOWN_CURRENCY,
    ),
    Case(
        "currency",
        "non-ASCII that upper-cases to a code",
        {"currency": "\u0131ls"},
        R.UNKNOWN_CURRENCY,
    ),
    Case("currency", "control characters", {"currency": "EUR\x00"}, R.UNKNOWN_CURRENCY),
    # merchant_name
    Case(
        "merchant_name",
        "missing, empty or spaces",
        {"merchant_name": None},
        Sends({"merchant_name": None}, shows=("Merchant:  not known",)),
    ),
    Case(
        "merchant_name",
        "CR, LF, NUL",
        {"merchant_name": "Shop\r\n\x00Ltd"},
        Sends({"merchant_name": "Shop Ltd"}, shows=("Merchant:  Shop Ltd",)),
    ),
    Case(
        "merchant_name",
        "markup",
        {"merchant_name": "A&B <b>Bold</b>"},
        Sends(shows=("Merchant:  A&B <b>Bold</b>",), html=("A&amp;B &lt;b&gt;Bold&lt;/b&gt;",)),
    ),
    Case(
        "merchant_name",
        f"over {MAX_TEXT} characters",
        {"merchant_name": LONG},
        Sends({"merchant_name": "Ä" * (MAX_TEXT - 1) + "…"}),
    ),
    # transaction_time
    Case(
        "transaction_time",
        "missing",
        {"transaction_time": None},
        Sends({"transaction_time": None}, hides=("When:",)),
    ),
    Case(
        "transaction_time",
        "with a time zone",
        {"transaction_time": datetime(2026, 11, 30, 12, 45, tzinfo=timezone(timedelta(hours=2)))},
        Sends(
            {"transaction_time": datetime(2026, 11, 30, 10, 45)},
            shows=("When:      30 Nov 2026, 10:45 UTC",),
        ),
    ),
    Case(
        "transaction_time",
        "far past or future",
        {"transaction_time": datetime(1, 1, 1, tzinfo=UTC)},
        Sends(shows=("When:      01 Jan 1, 00:00 UTC",)),
    ),
    # Columns the email does not use
    Case(
        "fraud_score, model_version, predicted_at",
        "missing or garbage",
        {"fraud_score": float("nan"), "model_version": "\x00", "predicted_at": None},
        Sends(),
    ),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.id for case in CATALOGUE])
def test_bad_input_catalogue(case: Case) -> None:
    result = validate_row(alert_row(**case.row))

    if isinstance(case.outcome, RejectReason):
        assert result == Rejected(alert_row(**case.row).alert_key, case.outcome)
        return

    assert isinstance(result, Alert)
    for name, value in case.outcome.alert.items():
        assert getattr(result, name) == value, name
    parsed = parse_sent(RENDERER.render(result, NOW).message)
    text, html = body(parsed, "plain"), body(parsed, "html")
    for line in case.outcome.shows:
        assert line in text
    for line in case.outcome.hides:
        assert line not in text
    for line in case.outcome.html:
        assert line in html
    if case.outcome.to_name is not None:
        assert getaddresses(parsed.get_all("To", [])) == [(case.outcome.to_name, result.recipient)]


def test_the_long_address_is_long_only_in_total() -> None:
    local, _, domain = LONG_ADDRESS.partition("@")
    assert len(LONG_ADDRESS) > 254
    assert len(local) <= 64
    assert max(len(label) for label in domain.split(".")) <= 63


def test_catalogue_ids_are_unique() -> None:
    ids = [case.id for case in CATALOGUE]
    assert len(ids) == len(set(ids))


def test_every_reject_reason_of_validation_is_in_the_catalogue() -> None:
    # Reasons decided after validation (by the mailer, the source, the renderer) are not here.
    later = {R.ROW_VANISHED, R.UNRENDERABLE, R.MAILER_REJECTED}
    covered = {case.outcome for case in CATALOGUE if isinstance(case.outcome, RejectReason)}
    assert covered == set(RejectReason) - later


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane.doe@example.com", "jane.doe@example.com"),
        ("vhoang@例え.example", "vhoang@xn--r8jz45g.example"),
        ("customer49587@пример.example", "customer49587@xn--e1afmkfd.example"),
        ("jane@XN--BCHER-KVA.example", "jane@xn--bcher-kva.example"),
        ("jane\u00a0@example.com", RejectReason.INVALID_EMAIL),
        ("a@example.com\u3000b@example.com", RejectReason.MULTIPLE_ADDRESSES),
        ("jane@example.com.", RejectReason.INVALID_EMAIL),
    ],
)
def test_more_addresses_are_normalised_or_rejected(raw: str, expected: object) -> None:
    assert normalise_address(raw) == expected


def test_a_to_header_built_from_a_normalised_address_holds_exactly_it() -> None:
    result = validate_row(alert_row(customer_email=" Goyejun@Bücher.Example "))

    assert isinstance(result, Alert)
    parsed = parse_sent(RENDERER.render(result, NOW).message)
    assert getaddresses(parsed.get_all("To", [])) == [("Jane Doe", "goyejun@xn--bcher-kva.example")]
