"""Fuzzing the row path: any row ends sent or rejected with a reason, and every message is safe.

Arbitrary text (all of Unicode, control characters included) goes into every text column,
arbitrary decimals into the amount and arbitrary timestamps into the times. For each row:
nothing raises; the row is sent or rejected with a named reason; a sent message parses back with
Python's `email` package to exactly one recipient, its headers hold no line break and no header
the renderer did not write, and no `<` from data reaches the HTML part unescaped.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.alert import Alert, AlertRow
from domain.outcomes import Rejected, RejectReason
from domain.ports import Deadline
from domain.rendering import AlertRenderer, Sender, display_name
from domain.sweep import Sweep, SweepCommand
from domain.validation import validate_row
from tests.fakes import FakeClock, InMemoryAlertSource, InMemoryMailer, alert_row
from tests.mail import body, parse_sent

NOW = datetime(2026, 11, 30, 14, 0, 0)

# CI budgets, or the profile's when that is larger (FRAUD_ALERTS_HYPOTHESIS_PROFILE=thorough).
LARGE = max(200, settings().max_examples)
MEDIUM = max(150, settings().max_examples)
SMALL = max(60, settings().max_examples // 4)
RENDERER = AlertRenderer(Sender("alerts@bank.example", "Example Bank"))

# Exactly the headers the renderer writes; anything else would be an injected header.
EXPECTED_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "auto-submitted",
    "mime-version",
    "content-type",
}

# All of Unicode except lone surrogates, which no UTF-8 source (CSV, JSON) can carry.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=120)
nasty_text = st.one_of(
    any_text,
    st.sampled_from(
        [
            "",
            "   ",
            "Arsoy, Jr. (Piran)",
            'Tom "T" O\'Neil',
            "<script>alert(1)</script>",
            "x\r\nBcc: victim@example.com",
            "a\x00b",
            "=?utf-8?q?injected?=",
            "\u2028\u2029\x85",
            '\\"<>@,;:',
        ]
    ),
)

addresses = st.one_of(
    st.emails(),
    any_text,
    st.builds(
        lambda local, domain: f"{local}@{domain}",
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20),
        st.sampled_from(["example.com", "bücher.example", "例え.example", "localhost"]),
    ),
    st.sampled_from(
        [
            "  Jane.Doe@EXAMPLE.com ",
            "a@example.com, b@example.com",
            "jane@example.com\r\nBcc: x@example.com",
            '"jane doe"@example.com',
            "Jane <jane@example.com>",
            "jane@[127.0.0.1]",
        ]
    ),
)

amounts = st.one_of(
    st.none(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-10, max_value=10**6, places=2),
    st.decimals(min_value=0, max_value=10**6, places=0),
)

currencies = st.one_of(
    st.none(),
    any_text,
    st.sampled_from(
        ["EUR", " eur ", "JPY", "KRW", "BHD", "TRY", "XXX", "XAU", "\u0131ls", "usd\x00"]
    ),
)

timestamps = st.one_of(
    st.none(),
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11, minutes=-30))])),
)

maybe_text = st.one_of(st.none(), nasty_text)

rows = st.builds(
    alert_row,
    transaction_id=st.one_of(
        st.none(), nasty_text, st.from_regex(r"txn-[0-9]{1,8}", fullmatch=True)
    ),
    customer_id=maybe_text,
    customer_email=st.one_of(st.none(), addresses),
    customer_name=maybe_text,
    card_last4=st.one_of(st.none(), nasty_text, st.from_regex(r"[0-9]{4}", fullmatch=True)),
    amount=amounts,
    currency=currencies,
    merchant_name=maybe_text,
    transaction_time=timestamps,
    fraud_score=st.one_of(st.none(), st.floats()),
    model_version=maybe_text,
    predicted_at=timestamps,
)

# Rows that get past validation more often, so the rendering checks see plenty of messages.
plausible_rows = st.builds(
    alert_row,
    transaction_id=st.from_regex(r"txn-[0-9]{1,8}", fullmatch=True),
    customer_email=st.one_of(st.emails(), st.just("jane@example.com")),
    customer_name=maybe_text,
    card_last4=st.one_of(st.none(), nasty_text),
    amount=st.decimals(min_value=0, max_value=10**9, places=2),
    currency=st.sampled_from(["EUR", "GBP", "USD", "TRY", "CHF"]),
    merchant_name=maybe_text,
    transaction_time=timestamps,
)


@settings(max_examples=LARGE)
@given(row=rows)
def test_every_row_is_validated_without_raising_and_gets_an_outcome(row: AlertRow) -> None:
    result = validate_row(row)

    if isinstance(result, Rejected):
        assert result.alert_key == row.alert_key
        assert isinstance(result.reason, RejectReason)
    else:
        assert isinstance(result, Alert)
        assert result.recipient.isascii()
        assert result.recipient == result.recipient.strip().lower()
        _check_message(result, RENDERER.render(result, NOW).message)


@settings(max_examples=MEDIUM)
@given(row=plausible_rows)
def test_every_valid_alert_renders_to_a_safe_message(row: AlertRow) -> None:
    result = validate_row(row)

    assert isinstance(result, Alert)
    _check_message(result, RENDERER.render(result, NOW).message)


@settings(max_examples=SMALL)
@given(batch=st.lists(st.one_of(rows, plausible_rows), min_size=1, max_size=8))
def test_a_sweep_ends_every_claimed_row_sent_or_rejected(batch: list[AlertRow]) -> None:
    unique = {row.transaction_id: row for row in batch if row.transaction_id}
    source = InMemoryAlertSource(list(unique.values()))
    mailer = InMemoryMailer()
    clock = FakeClock(NOW)

    report = Sweep(source, mailer, RENDERER, clock).run(
        SweepCommand(run_id="fuzz", batch_size=3), Deadline(clock, None)
    )

    states = {key: entry["state"] for key, entry in source.state.items()}
    assert set(states.values()) <= {"sent", "rejected"}
    assert report.sent == len(mailer.sent) == sum(1 for s in states.values() if s == "sent")
    assert all(
        entry.get("reason") in set(RejectReason)
        for entry in source.state.values()
        if entry["state"] == "rejected"
    )
    for email in mailer.sent:
        parsed = parse_sent(email.message)
        assert getaddresses(parsed.get_all("To", []))[0][1] == email.recipient


def _check_message(alert: Alert, message: EmailMessage) -> None:
    parsed = parse_sent(message)
    raw_to = _raw_header(message, "To")

    assert {name.lower() for name in parsed} == EXPECTED_HEADERS
    for name, value in parsed.items():
        assert not any(ch in str(value) for ch in "\r\n\0"), name

    recipients = getaddresses(parsed.get_all("To", []))
    assert [address for _, address in recipients] == [alert.recipient]
    _check_display_name(recipients[0][0], raw_to, display_name(alert.customer_name))
    assert getaddresses(parsed.get_all("From", [])) == [("Example Bank", "alerts@bank.example")]

    html = body(parsed, "html")
    assert html.count("<") == body(parse_sent(_with_inert_data(alert)), "html").count("<")
    assert "customer" in body(parsed, "plain") or alert.customer_name


def _check_display_name(parsed_name: str, raw_to: str, expected: str) -> None:
    # The stdlib parser inserts a space between adjacent encoded words (CPython issue 128110),
    # so its reading is compared without whitespace; RFC 2047's own reading, which mail programs
    # follow, is compared exactly, but for the quoting of an ASCII name.
    assert "".join(parsed_name.split()) == "".join(expected.split())

    raw_name = raw_to.rpartition("<")[0].strip()
    decoded = str(make_header(decode_header(raw_name))) if raw_name else ""
    assert _unquoted(decoded) == _unquoted(expected)


def _unquoted(name: str) -> str:
    return name.replace("\\", "").replace('"', "")


def _raw_header(message: EmailMessage, name: str) -> str:
    head = message.as_bytes(policy=policy.SMTP).split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = head.replace("\r\n ", " ").replace("\r\n\t", "\t")
    values = [
        line.split(":", 1)[1].strip()
        for line in unfolded.split("\r\n")
        if line.lower().startswith(name.lower() + ":")
    ]
    assert len(values) == 1
    return values[0]


def _with_inert_data(alert: Alert) -> EmailMessage:
    # The same alert with every data field replaced by markup-free text: the HTML's `<` count
    # must not change, or some `<` came from data unescaped.
    def inert(value: str | None) -> str | None:
        return None if value is None else "x"

    inert_alert = dataclasses.replace(
        alert,
        transaction_id="x",
        customer_name=inert(alert.customer_name),
        merchant_name=inert(alert.merchant_name),
        card_last4=None if alert.card_last4 is None else "0000",
    )
    return RENDERER.render(inert_alert, NOW).message


def test_the_fuzzers_reach_both_outcomes() -> None:
    # Guards the strategies themselves: a fuzzer that only ever rejects proves nothing.
    assert isinstance(validate_row(alert_row()), Alert)
    assert isinstance(validate_row(alert_row(amount=None)), Rejected)
