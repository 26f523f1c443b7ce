from datetime import date, datetime
from decimal import Decimal

import pytest

from adapters.redshift.fields import UnsupportedColumnTypeError, row_reader


def _columns(*pairs):
    return [{"name": name, "typeName": type_name} for name, type_name in pairs]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30 10:45:25", datetime(2026, 11, 30, 10, 45, 25)),
        ("2026-11-30 10:45:25.1", datetime(2026, 11, 30, 10, 45, 25, 100000)),
        ("2026-11-30 10:45:25.12", datetime(2026, 11, 30, 10, 45, 25, 120000)),
        ("2026-11-30 10:45:25.123", datetime(2026, 11, 30, 10, 45, 25, 123000)),
        ("2026-11-30 10:45:25.1234", datetime(2026, 11, 30, 10, 45, 25, 123400)),
        ("2026-11-30 10:45:25.12345", datetime(2026, 11, 30, 10, 45, 25, 123450)),
        ("2026-11-30 10:45:25.123456", datetime(2026, 11, 30, 10, 45, 25, 123456)),
    ],
)
def test_timestamps_with_zero_to_six_fractional_digits(text, expected):
    read = row_reader(_columns(("t", "timestamp")))

    assert read([{"stringValue": text}]) == {"t": expected}


def test_each_type_is_read_by_its_column_metadata():
    read = row_reader(
        _columns(
            ("amount", "numeric"),
            ("name", "varchar"),
            ("n", "int8"),
            ("score", "float8"),
            ("flag", "bool"),
            ("day", "date"),
            ("at", "timestamptz"),
        )
    )

    row = read(
        [
            {"stringValue": "3099.48"},
            {"stringValue": "Jane"},
            {"longValue": 7},
            {"doubleValue": 0.8251},
            {"booleanValue": False},
            {"stringValue": "2026-11-30"},
            {"stringValue": "2026-11-30 11:45:25+01"},
        ]
    )

    assert row == {
        "amount": Decimal("3099.48"),
        "name": "Jane",
        "n": 7,
        "score": 0.8251,
        "flag": False,
        "day": date(2026, 11, 30),
        "at": datetime(2026, 11, 30, 10, 45, 25),
    }


def test_is_null_wins_over_any_other_key():
    read = row_reader(_columns(("amount", "numeric"), ("name", "varchar")))

    assert read([{"isNull": True}, {"isNull": True, "stringValue": ""}]) == {
        "amount": None,
        "name": None,
    }


def test_a_decimal_never_passes_through_float():
    read = row_reader(_columns(("amount", "numeric")))

    assert read([{"stringValue": "9999999999999999.99"}])["amount"] == Decimal(
        "9999999999999999.99"
    )


def test_an_unknown_column_type_is_refused_by_name():
    with pytest.raises(UnsupportedColumnTypeError, match="'geometry'"):
        row_reader(_columns(("shape", "geometry")))
