"""The local loader creates the contract table and loads the sample export exactly."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.local_warehouse import LocalDataApiClient
from adapters.local_warehouse.loader import CsvLayoutError, create_alerts_table, load_csv

SAMPLE = Path(__file__).parents[3] / "shared" / "data" / "predicted_fraud_sample.csv"
TARGET = {"WorkgroupName": "fraud-wg", "Database": "dev"}


@pytest.fixture
def client() -> Iterator[LocalDataApiClient]:
    local = LocalDataApiClient(":memory:")
    create_alerts_table(local)
    yield local
    local.close()


@pytest.fixture(scope="module")
def sample_rows() -> list[dict[str, str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_creating_the_table_twice_is_harmless(client: LocalDataApiClient) -> None:
    create_alerts_table(client)

    columns = client.query_local(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = 'predicted_fraud' ORDER BY ordinal_position"
    )

    assert [name for name, _type in columns][:3] == [
        "transaction_id",
        "customer_id",
        "customer_email",
    ]
    assert dict(columns)["amount"] == "DECIMAL(18,2)"
    assert len(columns) == 13


def test_the_sample_loads_every_row_with_its_nulls(
    client: LocalDataApiClient, sample_rows: list[dict[str, str]]
) -> None:
    loaded = load_csv(client, SAMPLE)

    assert loaded == len(sample_rows) == 5150
    for column in sample_rows[0]:
        expected = sum(1 for row in sample_rows if row[column] == "")
        found = client.query_local(f"SELECT count(*) - count({column}) FROM predicted_fraud")
        assert found == [(expected,)], column


def test_decimals_and_text_survive_exactly(
    client: LocalDataApiClient, sample_rows: list[dict[str, str]]
) -> None:
    load_csv(client, SAMPLE)

    total = client.query_local("SELECT SUM(amount) FROM predicted_fraud")[0][0]
    names = client.query_local(
        "SELECT customer_name FROM predicted_fraud WHERE transaction_id = 'txn-0003583'"
    )

    assert total == sum(Decimal(row["amount"]) for row in sample_rows)
    assert ("Arsoy, Jr. (Piran)",) in names


def test_loaded_rows_read_back_through_the_data_api(client: LocalDataApiClient) -> None:
    load_csv(client, SAMPLE)

    statement_id = client.execute_statement(
        Sql="SELECT amount, transaction_time, email_sent FROM predicted_fraud"
        " WHERE transaction_id = :id ORDER BY predicted_at LIMIT 1",
        Parameters=[{"name": "id", "value": "txn-0001869"}],
        **TARGET,
    )["Id"]
    record = client.get_statement_result(Id=statement_id)["Records"][0]

    assert record == [
        {"stringValue": "427100.00"},
        {"stringValue": "2026-11-30 09:32:41"},
        {"booleanValue": False},
    ]


def test_quoted_empty_text_stays_empty_and_unquoted_empty_is_null(
    client: LocalDataApiClient, tmp_path: Path
) -> None:
    export = tmp_path / "tiny.csv"
    export.write_text(
        'transaction_id,customer_name,amount\ntxn-1,"",1.10\ntxn-2,,\ntxn-3,"O""Brien, Ann",3\n',
        encoding="utf-8",
    )

    loaded = load_csv(client, export)

    assert loaded == 3
    assert client.query_local(
        "SELECT customer_name, amount FROM predicted_fraud ORDER BY transaction_id"
    ) == [("", Decimal("1.10")), (None, None), ('O"Brien, Ann', Decimal("3.00"))]


def test_a_header_naming_unknown_columns_is_refused(
    client: LocalDataApiClient, tmp_path: Path
) -> None:
    export = tmp_path / "wrong.csv"
    export.write_text("transaction_id,shoe_size\ntxn-1,44\n", encoding="utf-8")

    with pytest.raises(CsvLayoutError):
        load_csv(client, export)

    assert client.query_local("SELECT count(*) FROM predicted_fraud") == [(0,)]


def test_a_csv_with_a_byte_order_mark_loads_like_any_other(tmp_path):
    from adapters.local_warehouse.data_api import LocalDataApiClient
    from adapters.local_warehouse.loader import create_alerts_table, load_csv

    source = tmp_path / "excel.csv"
    source.write_bytes(
        b"\xef\xbb\xbftransaction_id,customer_email,amount,currency\r\n"
        b"txn-1,jane@example.com,12.34,EUR\r\n"
    )
    client = LocalDataApiClient(":memory:")
    create_alerts_table(client)

    assert load_csv(client, source) == 1
    assert client.query_local("SELECT transaction_id, amount FROM predicted_fraud") == [
        ("txn-1", Decimal("12.34"))
    ]


def test_a_value_of_the_wrong_type_names_file_line_and_column_but_no_content(tmp_path):
    from adapters.local_warehouse.data_api import LocalDataApiClient
    from adapters.local_warehouse.loader import CsvLayoutError, create_alerts_table, load_csv

    source = tmp_path / "typo.csv"
    source.write_text(
        "transaction_id,customer_email,customer_name,amount\n"
        "txn-1,jane.doe@example.com,Jane Doe,12.34\n"
        "txn-2,ann.lee@example.com,Ann Lee,NaN-ish\n",
        encoding="utf-8",
    )
    client = LocalDataApiClient(":memory:")
    create_alerts_table(client)

    with pytest.raises(CsvLayoutError) as failure:
        load_csv(client, source)

    message = str(failure.value)
    assert (
        message
        == "typo.csv: line 3: column 'amount' holds a value of the wrong type; nothing was loaded"
    )
    assert client.query_local("SELECT COUNT(*) FROM predicted_fraud") == [(0,)]
