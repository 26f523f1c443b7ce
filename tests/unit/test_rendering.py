from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from domain.alert import Alert
from domain.ports import OutboundEmail
from domain.rendering import MAX_DISPLAY_NAME, AlertRenderer, Sender
from tests.mail import body, parse_sent

NOW = datetime(2026, 11, 30, 14, 0, 0)


def _alert(**overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "alert_key": "txn-1",
        "transaction_id": "txn-1",
        "recipient": "jane@example.com",
        "customer_name": "Jane Doe",
        "card_last4": "4242",
        "amount": Decimal("3099.48"),
        "currency": "TRY",
        "merchant_name": "Example Shop",
        "transaction_time": datetime(2026, 11, 30, 10, 45, 25),
    }
    values.update(overrides)
    return Alert(**values)


def _render(alert: Alert) -> tuple[OutboundEmail, EmailMessage]:
    renderer = AlertRenderer(Sender("alerts@bank.example", "Example Bank"))
    email = renderer.render(alert, NOW)
    return email, _parse(email)


def test_message_has_text_and_html_parts_and_one_recipient() -> None:
    email, parsed = _render(_alert())

    assert email.recipient == "jane@example.com"
    assert getaddresses(parsed.get_all("To", [])) == [("Jane Doe", "jane@example.com")]
    assert parsed["From"] == "Example Bank <alerts@bank.example>"
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert email.tags == (("transaction_id", "txn-1"),)


def test_amount_is_formatted_from_decimal_with_its_currency() -> None:
    _, parsed = _render(_alert(amount=Decimal("427100"), currency="KRW"))

    text = body(parsed, "plain")
    assert "₩427,100" in text


def test_markup_in_data_is_escaped_in_html_and_literal_in_text() -> None:
    _, parsed = _render(_alert(merchant_name="A&B <b>Bold</b>", customer_name='<img src="x">'))

    html = body(parsed, "html")
    text = body(parsed, "plain")
    assert "A&amp;B &lt;b&gt;Bold&lt;/b&gt;" in html
    assert "<b>" not in html
    assert "<img" not in html
    assert "A&B <b>Bold</b>" in text


def test_names_with_commas_quotes_and_other_scripts_parse_back_to_one_address() -> None:
    for name in ["Arsoy, Jr. (Piran)", 'Tom "T" O\'Neil', "이병철", "Ζωή, Παπαδοπούλου"]:
        _, parsed = _render(_alert(customer_name=name))

        assert getaddresses(parsed.get_all("To", [])) == [(name, "jane@example.com")]


def test_subject_carries_no_customer_data() -> None:
    _, parsed = _render(_alert(customer_name="Jane Doe", merchant_name="Shop"))

    assert "Jane" not in parsed["Subject"]
    assert "4242" not in parsed["Subject"]
    assert "\n" not in parsed["Subject"]


def test_every_data_field_is_escaped_in_html() -> None:
    _, parsed = _render(
        _alert(
            transaction_id="<i>txn</i>",
            customer_name="<script>x</script>",
            merchant_name='"><img src=x onerror=alert(1)>',
        )
    )

    html = body(parsed, "html")
    assert "&lt;i&gt;txn&lt;/i&gt;" in html
    assert "&lt;script&gt;" in html
    assert "&#34;&gt;&lt;img src=x" in html
    assert "<script" not in html
    assert "<img" not in html
    assert "<i>" not in html


def test_no_remote_content_no_links_no_tracking() -> None:
    _, parsed = _render(_alert(merchant_name="https://evil.example/pay", customer_name="Jane"))

    html = body(parsed, "html").lower()
    text = body(parsed, "plain").lower()
    for marker in ("<img", "<a ", "href", "src=", "url(", "<link", "<script", "<iframe"):
        assert marker not in html
    # The only URL is the one the data carried, shown as text, never as a link.
    assert html.count("http") == text.count("http") == 1
    assert "<a" not in html


def test_from_carries_the_configured_sender_name() -> None:
    _, parsed = _render(_alert())

    assert parsed["From"].addresses[0].display_name == "Example Bank"


def test_a_name_spelling_an_encoded_word_is_not_decoded_by_the_recipient() -> None:
    _, parsed = _render(_alert(customer_name="=?utf-8?q?Your_Bank?="))

    name = parsed["To"].addresses[0].display_name
    assert name != "Your Bank"
    assert "Your_Bank" in name


def test_a_missing_name_leaves_the_to_header_bare() -> None:
    _, parsed = _render(_alert(customer_name=None))

    assert getaddresses(parsed.get_all("To", [])) == [("", "jane@example.com")]
    assert "Dear customer," in body(parsed, "plain")


def test_a_long_name_is_cut_in_the_to_header() -> None:
    name = "Ärzte" * 40
    _, parsed = _render(_alert(customer_name=name))

    display = parsed["To"].addresses[0].display_name
    assert len("".join(display.split())) == MAX_DISPLAY_NAME
    assert parsed["To"].addresses[0].addr_spec == "jane@example.com"


def test_a_bank_can_replace_the_templates(tmp_path: Path) -> None:
    _bank_templates(tmp_path, html="<p>Hello {{ customer_name }}</p>", subject="Card alert\n")
    renderer = AlertRenderer(Sender("alerts@bank.example", "Example Bank"), template_dir=tmp_path)

    parsed = _parse(renderer.render(_alert(customer_name="<b>Jo</b>"), NOW))

    assert parsed["Subject"] == "Card alert"
    assert body(parsed, "html") == "<p>Hello &lt;b&gt;Jo&lt;/b&gt;</p>\n"
    assert body(parsed, "plain") == "Hello <b>Jo</b>\n"


def test_a_subject_template_cannot_break_the_header_line(tmp_path: Path) -> None:
    _bank_templates(tmp_path, subject="Alert for {{ merchant_name }}\nBcc: x@example.com")
    renderer = AlertRenderer(Sender("alerts@bank.example", "Example Bank"), template_dir=tmp_path)

    parsed = _parse(renderer.render(_alert(merchant_name="Shop"), NOW))

    assert parsed["Subject"] == "Alert for Shop Bcc: x@example.com"
    assert parsed["Bcc"] is None


def test_templates_run_in_a_sandbox(tmp_path: Path) -> None:
    _bank_templates(tmp_path, text="{{ customer_name.__class__.__mro__[1].__subclasses__() }}")
    renderer = AlertRenderer(Sender("alerts@bank.example", "Example Bank"), template_dir=tmp_path)

    with pytest.raises(SecurityError):
        renderer.render(_alert(), NOW)


def test_an_unknown_template_variable_fails_loudly(tmp_path: Path) -> None:
    _bank_templates(tmp_path, text="{{ customer_phone }}")
    renderer = AlertRenderer(Sender("alerts@bank.example", "Example Bank"), template_dir=tmp_path)

    with pytest.raises(UndefinedError):
        renderer.render(_alert(), NOW)


def _bank_templates(
    directory: Path,
    *,
    text: str = "Hello {{ customer_name }}\n",
    html: str = "<p>Hi</p>",
    subject: str = "Card alert",
) -> None:
    (directory / "alert.txt.j2").write_text(text, encoding="utf-8")
    (directory / "alert.html.j2").write_text(html + "\n", encoding="utf-8")
    (directory / "subject.txt.j2").write_text(subject, encoding="utf-8")


def _parse(email: OutboundEmail) -> EmailMessage:
    return parse_sent(email.message)
