"""The demo data generator: reproducible, in the warehouse's layout, messy in the known ways."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from adapters.local_warehouse.sample_data import COLUMNS, generate_rows, write_csv
from adapters.redshift.queries import TABLE_COLUMNS

Row = dict[str, str | None]

WAREHOUSE_COLUMNS = list(TABLE_COLUMNS)
ROW_COUNT = 4000
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "VND"}
RESERVED_DOMAIN = re.compile(r"(.+\.)?example\.(com|org|net)|(.+\.)?example")


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return list(generate_rows(ROW_COUNT))


def _domain(address: str) -> str:
    normalised = address.strip().lower().replace(" at ", "@")
    return normalised.rpartition("@")[2]


def _scripts(text: str) -> set[str]:
    return {unicodedata.name(char).split()[0] for char in text if char.isalpha()}


def test_same_seed_writes_byte_identical_csv(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"

    assert write_csv(first, 300, seed=7) == 300
    write_csv(second, 300, seed=7)
    write_csv(other, 300, seed=8)

    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_csv_has_the_warehouse_header_and_one_line_per_row(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "sample.csv"

    write_csv(path, 50)

    with path.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    assert records[0] == WAREHOUSE_COLUMNS
    assert len(records) == 51
    assert all(len(record) == len(WAREHOUSE_COLUMNS) for record in records)
    assert path.read_bytes().count(b"\r\n") >= 51


def test_every_row_has_exactly_the_warehouse_columns(rows: list[Row]) -> None:
    assert list(COLUMNS) == WAREHOUSE_COLUMNS
    assert len(rows) == ROW_COUNT
    assert all(list(row) == WAREHOUSE_COLUMNS for row in rows)


def test_values_use_the_warehouse_text_formats(rows: list[Row]) -> None:
    for row in rows:
        assert re.fullmatch(r"txn-\d{7}", row["transaction_id"] or "")
        assert re.fullmatch(r"cust-\d{5}", row["customer_id"] or "")
        assert re.fullmatch(r"\d{4}", row["card_last4"] or "")
        assert TIMESTAMP.fullmatch(row["transaction_time"] or "")
        assert TIMESTAMP.fullmatch(row["predicted_at"] or "")
        assert (row["predicted_at"] or "") >= (row["transaction_time"] or "")
        assert re.fullmatch(r"0\.\d{4}", row["fraud_score"] or "")
        assert 0.80 <= float(row["fraud_score"] or 0) <= 0.9999
        assert re.fullmatch(r"fraud-xgb-\d{4}\.\d{2}", row["model_version"] or "")
        assert row["email_sent"] in {"true", "false"}
        assert row["merchant_name"]


def test_amounts_carry_the_decimals_of_their_currency(rows: list[Row]) -> None:
    for row in rows:
        amount, currency = row["amount"] or "", row["currency"] or ""
        if currency in ZERO_DECIMAL_CURRENCIES:
            assert re.fullmatch(r"[1-9]\d*", amount), (currency, amount)
        else:
            assert re.fullmatch(r"[1-9]\d*\.\d{2}", amount), (currency, amount)


def test_many_markets_and_scripts_are_represented(rows: list[Row]) -> None:
    currencies = Counter(row["currency"] for row in rows)
    scripts = set().union(*(_scripts(row["customer_name"] or "") for row in rows))

    assert len(currencies) >= 12
    assert {"JPY", "KRW", "VND", "CNY", "RUB", "INR", "EUR", "USD", "GBP"} <= set(currencies)
    assert {"CJK", "HANGUL", "CYRILLIC", "ARABIC", "GREEK", "DEVANAGARI", "HIRAGANA"} & scripts
    assert {"CJK", "HANGUL", "CYRILLIC", "ARABIC", "GREEK", "DEVANAGARI"} <= scripts


def test_no_address_leaves_the_reserved_example_domains(rows: list[Row]) -> None:
    addresses = [row["customer_email"] for row in rows if row["customer_email"] is not None]

    foreign = [address for address in addresses if not RESERVED_DOMAIN.fullmatch(_domain(address))]

    assert addresses
    assert foreign == []


def test_rescored_transactions_repeat_with_a_new_score_or_time(rows: list[Row]) -> None:
    by_id: defaultdict[str | None, list[Row]] = defaultdict(list)
    for row in rows:
        by_id[row["transaction_id"]].append(row)
    repeated = [group for group in by_id.values() if len(group) > 1]

    assert 0.015 * ROW_COUNT < len(repeated) < 0.05 * ROW_COUNT
    for first, second in repeated:
        changed = {column for column in WAREHOUSE_COLUMNS if first[column] != second[column]}
        assert "fraud_score" in changed
        assert changed <= {"fraud_score", "predicted_at"}


def test_every_kind_of_mess_is_planted_at_a_plausible_rate(rows: list[Row]) -> None:
    emails = [row["customer_email"] for row in rows]
    present = [email for email in emails if email is not None]

    def share(count: int) -> float:
        return count / ROW_COUNT

    assert 0.002 < share(emails.count(None)) < 0.03
    assert 0.002 < share(sum(row["customer_name"] is None for row in rows)) < 0.03
    assert 0.05 < share(sum(row["email_sent"] == "true" for row in rows)) < 0.15
    assert any(
        email != email.strip() and email.strip() == email.strip().upper() for email in present
    )
    assert any(" at " in email for email in present)
    assert {"münchen.example", "пример.example", "例え.example"} <= {
        _domain(email) for email in present
    }
    assert any(not email.strip().rpartition("@")[0].isascii() for email in present)


def test_names_and_merchants_that_need_escaping_are_planted(rows: list[Row]) -> None:
    names = {row["customer_name"] or "" for row in rows}
    merchants = {row["merchant_name"] or "" for row in rows}

    assert any("," in name and "(" in name and ")" in name for name in names)
    assert any('"' in name for name in names)
    assert {"A&B <b>Bold</b>", 'Tom\'s "Best" Deals'} <= merchants


def test_importing_the_module_does_not_import_faker() -> None:
    probe = "import sys, adapters.local_warehouse.sample_data; sys.exit('faker' in sys.modules)"

    result = subprocess.run(  # noqa: S603 - our own interpreter, a fixed probe
        [sys.executable, "-c", probe], check=False, cwd=Path(__file__).resolve().parents[2]
    )

    assert result.returncode == 0
