from datetime import datetime
from decimal import Decimal
from email import message_from_bytes, policy
from email.utils import getaddresses

from domain.alert import Alert
from domain.rendering import AlertRenderer, Sender

NOW = datetime(2026, 11, 30, 14, 0, 0)


def _alert(**overrides) -> Alert:
    values = {
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


def _render(alert: Alert):
    renderer = AlertRenderer(Sender("alerts@bank.example", "Example Bank"))
    email = renderer.render(alert, NOW)
    return email, message_from_bytes(email.message.as_bytes(), policy=policy.default)


def test_message_has_text_and_html_parts_and_one_recipient():
    email, parsed = _render(_alert())

    assert email.recipient == "jane@example.com"
    assert getaddresses(parsed.get_all("To")) == [("Jane Doe", "jane@example.com")]
    assert parsed["From"] == "Example Bank <alerts@bank.example>"
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert email.tags == (("transaction_id", "txn-1"),)


def test_amount_is_formatted_from_decimal_with_its_currency():
    _, parsed = _render(_alert(amount=Decimal("427100"), currency="KRW"))

    text = parsed.get_body(("plain",)).get_content()
    assert "₩427,100" in text


def test_markup_in_data_is_escaped_in_html_and_literal_in_text():
    _, parsed = _render(_alert(merchant_name="A&B <b>Bold</b>", customer_name='<img src="x">'))

    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    assert "A&amp;B &lt;b&gt;Bold&lt;/b&gt;" in html
    assert "<b>" not in html
    assert "<img" not in html
    assert "A&B <b>Bold</b>" in text


def test_names_with_commas_quotes_and_other_scripts_parse_back_to_one_address():
    for name in ["Arsoy, Jr. (Piran)", 'Tom "T" O\'Neil', "이병철", "Ζωή, Παπαδοπούλου"]:
        _, parsed = _render(_alert(customer_name=name))

        assert getaddresses(parsed.get_all("To")) == [(name, "jane@example.com")]


def test_subject_carries_no_customer_data():
    _, parsed = _render(_alert(customer_name="Jane Doe", merchant_name="Shop"))

    assert "Jane" not in parsed["Subject"]
    assert "4242" not in parsed["Subject"]
    assert "\n" not in parsed["Subject"]
