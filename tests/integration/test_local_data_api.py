"""The local Data API stand-in behaves like boto3's `redshift-data` client over real SQL."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from adapters.local_warehouse import (
    LocalDataApiClient,
    SqlError,
    WarehouseUnavailableError,
    service_model,
)
from adapters.local_warehouse.data_api import IDEMPOTENCY_WINDOW_SECONDS, MAX_ACTIVE_STATEMENTS
from tests.fakes import FakeClock

TARGET: dict[str, Any] = {
    "ClusterIdentifier": "fraud-analytics",
    "Database": "dev",
    "DbUser": "fraud_alerts",
}
SAMPLE_EVENT = Path(__file__).parents[3] / "shared" / "events" / "model-run-finished.json"
SERIALIZABLE_VIOLATION = (
    "ERROR: 1023 DETAIL: Serializable isolation violation on table - 1234, "
    "transactions forming the cycle are: 1, 2"
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[LocalDataApiClient]:
    local = LocalDataApiClient(":memory:", clock=clock)
    yield local
    local.close()


def params(**values: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in values.items()]


def execute(client: LocalDataApiClient, sql: str, **values: str) -> str:
    request: dict[str, Any] = {"Sql": sql, **TARGET}
    if values:
        request["Parameters"] = params(**values)
    return str(client.execute_statement(**request)["Id"])


def run(client: LocalDataApiClient, sql: str, **values: str) -> str:
    """Execute and insist the statement finished."""
    statement_id = execute(client, sql, **values)
    described = client.describe_statement(Id=statement_id)
    assert described["Status"] == "FINISHED", described.get("Error")
    return statement_id


def batch(client: LocalDataApiClient, *sqls: str, **values: str) -> str:
    request: dict[str, Any] = {"Sqls": list(sqls), **TARGET}
    if values:
        request["Parameters"] = params(**values)
    return str(client.batch_execute_statement(**request)["Id"])


def records(client: LocalDataApiClient, statement_id: str) -> list[list[dict[str, Any]]]:
    pages = [client.get_statement_result(Id=statement_id)]
    while "NextToken" in pages[-1]:
        pages.append(client.get_statement_result(Id=statement_id, NextToken=pages[-1]["NextToken"]))
    return [row for page in pages for row in page["Records"]]


def values(client: LocalDataApiClient, sql: str, **bound: str) -> list[list[Any]]:
    """Rows of a query as the Data API returns them, each field reduced to its one value."""
    rows = records(client, run(client, sql, **bound))
    return [
        [None if "isNull" in cell else next(iter(cell.values())) for cell in row] for row in rows
    ]


def error_of(client: LocalDataApiClient, statement_id: str) -> str:
    described = client.describe_statement(Id=statement_id)
    assert described["Status"] == "FAILED"
    return str(described["Error"])


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


@pytest.fixture
def alerts(client: LocalDataApiClient) -> LocalDataApiClient:
    """A small `t` table with a distribution and sort key, as our DDL declares them."""
    run(
        client,
        "CREATE TABLE IF NOT EXISTS t (id VARCHAR(32), amount DECIMAL(18,2), at TIMESTAMP,"
        " sent BOOLEAN DEFAULT FALSE, name VARCHAR(64)) DISTKEY(id) SORTKEY(at)",
    )
    run(
        client,
        "INSERT INTO t (id, amount, at, name) VALUES (:a, :b, :c, :d), (:e, :f, :g, :h)",
        a="t1",
        b="10.50",
        c="2026-11-30 10:00:00",
        d="  ",
        e="t2",
        f="20.25",
        g="2026-11-30 11:00:00",
        h="Ann",
    )
    return client


# SQL constructs our adapters use ---------------------------------------------------------------


def test_create_table_if_not_exists_with_redshift_attributes_is_idempotent(
    client: LocalDataApiClient,
) -> None:
    ddl = (
        "CREATE TABLE IF NOT EXISTS k (a VARCHAR(10) ENCODE zstd, b INT ENCODE az64)"
        " DISTSTYLE KEY DISTKEY(a) COMPOUND SORTKEY(a, b)"
    )

    run(client, ddl)
    run(client, ddl)

    assert client.query_local("SELECT count(*) FROM k") == [(0,)]


def test_temp_table_lives_for_one_batch_only(alerts: LocalDataApiClient) -> None:
    statement_id = batch(
        alerts,
        "CREATE TEMP TABLE picked (id VARCHAR(32))",
        "INSERT INTO picked VALUES (:id)",
        "UPDATE t SET sent = TRUE FROM picked p WHERE t.id = p.id",
        id="t2",
    )

    assert alerts.describe_statement(Id=statement_id)["Status"] == "FINISHED"
    assert alerts.query_local("SELECT id FROM t WHERE sent") == [("t2",)]
    later = execute(alerts, "SELECT * FROM picked")
    assert error_of(alerts, later) == 'ERROR: relation "picked" does not exist'


def test_multi_row_insert_binds_every_named_parameter(alerts: LocalDataApiClient) -> None:
    assert values(alerts, "SELECT id, amount FROM t ORDER BY id") == [
        ["t1", "10.50"],
        ["t2", "20.25"],
    ]


def test_update_from_another_table_reports_affected_rows(alerts: LocalDataApiClient) -> None:
    run(alerts, "CREATE TABLE o (id VARCHAR(32), amount DECIMAL(18,2))")
    run(alerts, "INSERT INTO o VALUES ('t1', 99.99)")

    statement_id = run(alerts, "UPDATE t SET amount = o.amount FROM o WHERE t.id = o.id")

    assert alerts.describe_statement(Id=statement_id)["ResultRows"] == 1
    assert alerts.query_local("SELECT amount FROM t WHERE id = 't1'") == [(Decimal("99.99"),)]


def test_row_number_desc_nulls_last_and_redshift_default_nulls_first(
    alerts: LocalDataApiClient,
) -> None:
    run(alerts, "INSERT INTO t (id, amount, at) VALUES ('t1', 1, NULL)")

    ranked = values(
        alerts,
        "SELECT at, ROW_NUMBER() OVER (PARTITION BY id ORDER BY at DESC NULLS LAST) AS rn"
        " FROM t WHERE id = 't1' ORDER BY rn",
    )
    default_order = values(alerts, "SELECT at FROM t WHERE id = 't1' ORDER BY at DESC")

    assert ranked == [["2026-11-30 10:00:00", 1], [None, 2]]
    assert default_order == [[None], ["2026-11-30 10:00:00"]]


def test_cast_parameter_as_timestamp_and_dateadd(client: LocalDataApiClient) -> None:
    rows = values(
        client,
        "SELECT CAST(:now AS TIMESTAMP) AS now,"
        " DATEADD(minute, 15, CAST(:now AS TIMESTAMP)) AS lease,"
        " DATEADD(second, -30, CAST(:now AS TIMESTAMP)) AS before",
        now="2026-11-30 14:00:00",
    )

    assert rows == [["2026-11-30 14:00:00", "2026-11-30 14:15:00", "2026-11-30 13:59:30"]]


def test_getdate_is_utc_now_without_fraction(client: LocalDataApiClient) -> None:
    statement_id = run(client, "SELECT GETDATE() AS now")
    page = client.get_statement_result(Id=statement_id)

    text = page["Records"][0][0]["stringValue"]
    now = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - now) < timedelta(minutes=1)
    assert page["ColumnMetadata"][0]["typeName"] == "timestamp"


def test_nvl_md5_and_nullif_trim(alerts: LocalDataApiClient) -> None:
    rows = values(
        alerts,
        "SELECT NVL(NULLIF(TRIM(name), ''), 'customer') AS greeting, MD5(id) AS digest"
        " FROM t ORDER BY id",
    )

    assert rows == [
        ["customer", hashlib.md5(b"t1").hexdigest()],  # noqa: S324 - Redshift's MD5, not security
        ["Ann", hashlib.md5(b"t2").hexdigest()],  # noqa: S324
    ]


def test_aggregates_with_case_instead_of_filter(alerts: LocalDataApiClient) -> None:
    run(alerts, "UPDATE t SET sent = TRUE WHERE id = 't2'")

    rows = values(
        alerts,
        "SELECT COUNT(*) AS total, SUM(CASE WHEN sent THEN 1 ELSE 0 END) AS sent,"
        " SUM(CASE WHEN NOT sent THEN amount ELSE 0 END) AS pending_amount FROM t",
    )

    assert rows == [[2, 1, "10.50"]]


def test_lock_checks_tables_and_then_serialises(alerts: LocalDataApiClient) -> None:
    run(alerts, "CREATE TABLE o (id VARCHAR(32))")

    locked = batch(alerts, "LOCK t, o", "UPDATE t SET sent = TRUE")
    missing = execute(alerts, "LOCK t, nowhere")

    assert alerts.describe_statement(Id=locked)["Status"] == "FINISHED"
    assert error_of(alerts, missing) == 'ERROR: relation "nowhere" does not exist'


def test_string_parameters_are_cast_by_context(alerts: LocalDataApiClient) -> None:
    rows = values(
        alerts,
        "SELECT id FROM t WHERE sent = :sent AND amount > :floor ORDER BY id LIMIT :n",
        sent="false",
        floor="15",
        n="5",
    )

    assert rows == [["t2"]]


def test_one_sql_with_two_statements_fails_like_a_prepared_statement(
    client: LocalDataApiClient,
) -> None:
    statement_id = execute(client, "SELECT 1; SELECT 2")

    assert "multiple commands" in error_of(client, statement_id)


def test_labels_follow_redshift_naming(alerts: LocalDataApiClient) -> None:
    statement_id = run(
        alerts, 'SELECT COUNT(*), MAX(amount), id AS "Key", t.name FROM t GROUP BY 3, 4'
    )

    metadata = alerts.get_statement_result(Id=statement_id)["ColumnMetadata"]

    assert [column["name"] for column in metadata] == ["count", "max", "key", "name"]


# Values, types and pages -----------------------------------------------------------------------


def test_every_type_maps_to_its_field_and_redshift_type_name(client: LocalDataApiClient) -> None:
    run(
        client,
        "CREATE TABLE ty (v VARCHAR(8), c CHAR(2), i INTEGER, b BIGINT, s SMALLINT,"
        " d DOUBLE PRECISION, r REAL, ok BOOLEAN, n DECIMAL(18,2), ts TIMESTAMP, dt DATE)",
    )
    run(
        client,
        "INSERT INTO ty VALUES ('x', 'ab', 7, 8000000000, 3, 0.5, 1.5, TRUE, 3099.48,"
        " '2026-11-30 10:45:25', '2026-11-30')",
    )
    run(
        client,
        "INSERT INTO ty VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )

    statement_id = run(client, "SELECT * FROM ty ORDER BY i NULLS LAST")
    page = client.get_statement_result(Id=statement_id)

    assert page["Records"][0] == [
        {"stringValue": "x"},
        {"stringValue": "ab"},
        {"longValue": 7},
        {"longValue": 8000000000},
        {"longValue": 3},
        {"doubleValue": 0.5},
        {"doubleValue": 1.5},
        {"booleanValue": True},
        {"stringValue": "3099.48"},
        {"stringValue": "2026-11-30 10:45:25"},
        {"stringValue": "2026-11-30"},
    ]
    assert page["Records"][1] == [{"isNull": True}] * 11
    assert [column["typeName"] for column in page["ColumnMetadata"]] == [
        "varchar",
        "varchar",
        "int4",
        "int8",
        "int2",
        "float8",
        "float4",
        "bool",
        "numeric",
        "timestamp",
        "date",
    ]
    numeric = page["ColumnMetadata"][8]
    assert (numeric["precision"], numeric["scale"], numeric["isSigned"]) == (18, 2, True)
    assert all(column["nullable"] == 1 for column in page["ColumnMetadata"])


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("3099.48", "3099.48"),
        ("427100", "427100.00"),
        ("-0.5", "-0.50"),
        ("0.01", "0.01"),
        ("9999999999999999.99", "9999999999999999.99"),
    ],
)
def test_decimals_keep_their_scale_exactly(
    client: LocalDataApiClient, stored: str, shown: str
) -> None:
    assert values(client, "SELECT CAST(:v AS DECIMAL(18,2)) AS v", v=stored) == [[shown]]


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("2026-11-30 10:45:25", "2026-11-30 10:45:25"),
        ("2026-11-30 10:45:25.5", "2026-11-30 10:45:25.5"),
        ("2026-11-30 10:45:25.12", "2026-11-30 10:45:25.12"),
        ("2026-11-30 10:45:25.120", "2026-11-30 10:45:25.12"),
        ("2026-11-30 10:45:25.1234", "2026-11-30 10:45:25.1234"),
        ("2026-11-30 10:45:25.12345", "2026-11-30 10:45:25.12345"),
        ("2026-11-30 10:45:25.123456", "2026-11-30 10:45:25.123456"),
    ],
)
def test_timestamps_print_like_redshift(
    client: LocalDataApiClient, stored: str, shown: str
) -> None:
    assert values(client, "SELECT CAST(:v AS TIMESTAMP) AS v", v=stored) == [[shown]]


def test_results_page_with_opaque_tokens(clock: FakeClock) -> None:
    with LocalDataApiClient(":memory:", clock=clock, rows_per_page=2) as client:
        statement_id = run(client, "SELECT * FROM range(5) AS r(n) ORDER BY n")

        first = client.get_statement_result(Id=statement_id)
        pages = [first]
        while "NextToken" in pages[-1]:
            token = pages[-1]["NextToken"]
            pages.append(client.get_statement_result(Id=statement_id, NextToken=token))

    assert [len(page["Records"]) for page in pages] == [2, 2, 1]
    assert all(page["TotalNumRows"] == 5 for page in pages)
    assert [row[0]["longValue"] for page in pages for row in page["Records"]] == [0, 1, 2, 3, 4]


def test_empty_last_page_still_follows_a_token(clock: FakeClock) -> None:
    with LocalDataApiClient(
        ":memory:", clock=clock, rows_per_page=2, empty_last_page=True
    ) as client:
        statement_id = run(client, "SELECT * FROM range(4) AS r(n)")

        first = client.get_statement_result(Id=statement_id)
        second = client.get_statement_result(Id=statement_id, NextToken=first["NextToken"])
        last = client.get_statement_result(Id=statement_id, NextToken=second["NextToken"])

    assert [len(page["Records"]) for page in (first, second, last)] == [2, 2, 0]
    assert "NextToken" not in last
    assert last["TotalNumRows"] == 4


def test_a_token_of_another_statement_is_rejected(client: LocalDataApiClient) -> None:
    with LocalDataApiClient(":memory:", rows_per_page=1) as paged:
        first = run(paged, "SELECT * FROM range(3) AS r(n)")
        other = run(paged, "SELECT * FROM range(3) AS r(n)")
        token = paged.get_statement_result(Id=first)["NextToken"]

        with pytest.raises(ClientError) as raised:
            paged.get_statement_result(Id=other, NextToken=token)
        with pytest.raises(ClientError) as garbage:
            paged.get_statement_result(Id=other, NextToken="not-a-token")

    assert error_code(raised) == error_code(garbage) == "ValidationException"


# Failures, rollback and batches ----------------------------------------------------------------


def test_bad_sql_fails_with_a_redshift_style_error(client: LocalDataApiClient) -> None:
    syntax = execute(client, "SELEC id FROM t")
    missing = execute(client, "SELECT * FROM not_here")

    assert error_of(client, syntax).startswith("ERROR: syntax error at or near")
    assert error_of(client, missing) == 'ERROR: relation "not_here" does not exist'


def test_failed_batch_rolls_back_every_statement(alerts: LocalDataApiClient) -> None:
    statement_id = batch(
        alerts,
        "UPDATE t SET sent = TRUE",
        "INSERT INTO t (id) VALUES ('t3')",
        "INSERT INTO missing VALUES (1)",
    )

    described = alerts.describe_statement(Id=statement_id)

    assert described["Status"] == "FAILED"
    assert described["Error"] == 'ERROR: relation "missing" does not exist'
    assert [sub["Status"] for sub in described["SubStatements"]] == ["ABORTED", "ABORTED", "FAILED"]
    assert alerts.query_local("SELECT count(*), count(*) FILTER (WHERE sent) FROM t") == [(2, 0)]


@pytest.mark.parametrize("status", ["FAILED", "ABORTED"])
def test_injected_failure_rolls_back_and_reports(alerts: LocalDataApiClient, status: str) -> None:
    alerts.inject_failure(
        lambda sqls: any(sql.startswith("UPDATE t") for sql in sqls),
        SERIALIZABLE_VIOLATION,
        status=status,
    )

    failed = batch(alerts, "INSERT INTO t (id) VALUES ('t3')", "UPDATE t SET sent = TRUE")
    retried = batch(alerts, "INSERT INTO t (id) VALUES ('t3')", "UPDATE t SET sent = TRUE")

    described = alerts.describe_statement(Id=failed)
    assert (described["Status"], described["Error"]) == (status, SERIALIZABLE_VIOLATION)
    assert described["SubStatements"][-1]["Error"] == SERIALIZABLE_VIOLATION
    assert alerts.describe_statement(Id=retried)["Status"] == "FINISHED"
    assert alerts.query_local("SELECT count(*) FROM t WHERE id = 't3'") == [(1,)]


def test_injection_matches_only_its_sql_and_counts_down(alerts: LocalDataApiClient) -> None:
    alerts.inject_failure(lambda sqls: "DELETE" in sqls[0], "ERROR: boom", times=2)

    untouched = execute(alerts, "SELECT 1")
    first, second, third = (execute(alerts, "DELETE FROM t WHERE id = 'x'") for _ in range(3))

    assert alerts.describe_statement(Id=untouched)["Status"] == "FINISHED"
    assert [alerts.describe_statement(Id=i)["Status"] for i in (first, second, third)] == [
        "FAILED",
        "FAILED",
        "FINISHED",
    ]


def test_sub_statements_have_suffixed_ids_and_their_own_results(
    alerts: LocalDataApiClient,
) -> None:
    statement_id = batch(
        alerts, "UPDATE t SET sent = TRUE WHERE id = :id", "SELECT id FROM t WHERE sent", id="t1"
    )

    described = alerts.describe_statement(Id=statement_id)
    subs = described["SubStatements"]
    second = alerts.describe_statement(Id=f"{statement_id}:2")

    assert [sub["Id"] for sub in subs] == [f"{statement_id}:1", f"{statement_id}:2"]
    assert [(sub["HasResultSet"], sub["ResultRows"]) for sub in subs] == [(False, 1), (True, 1)]
    assert subs[0]["QueryString"] == "UPDATE t SET sent = TRUE WHERE id = :id"
    assert (second["Id"], second["Status"], second["HasResultSet"]) == (
        f"{statement_id}:2",
        "FINISHED",
        True,
    )
    assert records(alerts, f"{statement_id}:2") == [[{"stringValue": "t1"}]]


def test_results_need_a_finished_statement_with_a_result_set(alerts: LocalDataApiClient) -> None:
    parent = batch(alerts, "SELECT 1", "SELECT 2")
    no_results = run(alerts, "UPDATE t SET sent = TRUE")
    failed = execute(alerts, "SELECT * FROM nope")

    for statement_id in (parent, no_results, failed, f"{parent}:1:"):
        with pytest.raises(ClientError) as raised:
            alerts.get_statement_result(Id=statement_id)
        assert error_code(raised) == "ValidationException", statement_id


def test_unknown_ids_are_not_found(alerts: LocalDataApiClient) -> None:
    single = run(alerts, "SELECT 1")
    parent = batch(alerts, "SELECT 1")
    unknown = "00000000-0000-0000-0000-000000000000"

    for statement_id in (unknown, f"{parent}:2", f"{single}:1"):
        with pytest.raises(ClientError) as raised:
            alerts.describe_statement(Id=statement_id)
        assert error_code(raised) == "ResourceNotFoundException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert dict(raised.value.response)["ResourceId"] == statement_id


# Asynchrony, cancellation, expiry ---------------------------------------------------------------


def test_terminal_state_shows_only_after_the_latency(clock: FakeClock) -> None:
    with LocalDataApiClient(":memory:", clock=clock, latency=lambda _op: 3.0) as client:
        statement_id = execute(client, "SELECT 42 AS answer")

        seen = [client.describe_statement(Id=statement_id)["Status"]]
        clock.advance(1)
        seen.append(client.describe_statement(Id=statement_id)["Status"])
        with pytest.raises(ClientError) as early:
            client.get_statement_result(Id=statement_id)
        clock.advance(2)
        finished = client.describe_statement(Id=statement_id)

    assert seen == ["SUBMITTED", "STARTED"]
    assert error_code(early) == "ValidationException"
    assert finished["Status"] == "FINISHED"
    assert finished["UpdatedAt"] - finished["CreatedAt"] == timedelta(seconds=3)


def test_cancel_of_a_running_statement_loses_the_race(clock: FakeClock) -> None:
    with LocalDataApiClient(":memory:", clock=clock, latency=lambda _op: 5.0) as client:
        statement_id = execute(client, "SELECT 1")

        running = client.cancel_statement(Id=statement_id)
        clock.advance(5)
        with pytest.raises(ClientError) as finished:
            client.cancel_statement(Id=statement_id)

    assert running["Status"] is False
    assert error_code(finished) == "ValidationException"


def test_results_expire_after_the_ttl(clock: FakeClock) -> None:
    with LocalDataApiClient(":memory:", clock=clock, result_ttl_seconds=60) as client:
        statement_id = run(client, "SELECT 1")

        clock.advance(60)
        client.get_statement_result(Id=statement_id)
        clock.advance(1)
        with pytest.raises(ClientError) as expired:
            client.get_statement_result(Id=statement_id)
        still_described = client.describe_statement(Id=statement_id)

    assert error_code(expired) == "ValidationException"
    assert still_described["Status"] == "FINISHED"


def test_too_many_running_statements_are_refused(clock: FakeClock) -> None:
    with LocalDataApiClient(":memory:", clock=clock, latency=lambda _op: 1.0) as client:
        for _ in range(MAX_ACTIVE_STATEMENTS):
            execute(client, "SELECT 1")

        with pytest.raises(ClientError) as refused:
            execute(client, "SELECT 1")
        clock.advance(1)
        accepted = execute(client, "SELECT 1")

    assert error_code(refused) == "ActiveStatementsExceededException"
    assert accepted


# Idempotency and events ------------------------------------------------------------------------


def test_client_token_replays_the_same_statement_without_running_it(
    alerts: LocalDataApiClient, clock: FakeClock
) -> None:
    request = {"Sql": "INSERT INTO t (id) VALUES ('t9')", "ClientToken": "run-1", **TARGET}

    first = alerts.execute_statement(**request)
    again = alerts.execute_statement(**request)
    with pytest.raises(ClientError) as mismatch:
        alerts.execute_statement(**{**request, "Sql": "INSERT INTO t (id) VALUES ('t8')"})
    clock.advance(IDEMPOTENCY_WINDOW_SECONDS)
    after_window = alerts.execute_statement(**request)

    assert again["Id"] == first["Id"]
    assert error_code(mismatch) == "ValidationException"
    assert after_window["Id"] != first["Id"]
    assert alerts.query_local("SELECT count(*) FROM t WHERE id = 't9'") == [(2,)]


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def test_with_event_records_the_eventbridge_event_once_terminal(clock: FakeClock) -> None:
    sample = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    with LocalDataApiClient(":memory:", clock=clock, latency=lambda _op: 2.0) as client:
        statement_id = client.batch_execute_statement(
            Sqls=["CREATE TABLE s (n INT)", "INSERT INTO s SELECT * FROM range(3)"],
            WithEvent=True,
            StatementName="fraud-model:score:2026-11-30T14:00",
            **TARGET,
        )["Id"]
        execute(client, "SELECT 1")

        before = list(client.emitted_events)
        clock.advance(2)
        events = list(client.emitted_events)

    assert before == []
    assert len(events) == 1
    event = events[0]
    assert _shape(event) == _shape(sample)
    assert (event["source"], event["detail-type"]) == (sample["source"], sample["detail-type"])
    assert event["detail"]["statementId"] == statement_id
    assert event["detail"]["state"] == "FINISHED"
    assert event["detail"]["rows"] == 3
    assert event["detail"]["statementName"] == "fraud-model:score:2026-11-30T14:00"
    assert event["resources"] == ["arn:aws:redshift:eu-west-1:000000000000:cluster:fraud-analytics"]
    assert event["time"] == "2026-11-30T14:00:02Z"


def test_a_failed_statement_event_carries_no_rows(client: LocalDataApiClient) -> None:
    client.execute_statement(Sql="SELECT * FROM nope", WithEvent=True, **TARGET)

    detail = client.emitted_events[0]["detail"]

    assert (detail["state"], detail["rows"], detail["redshiftQueryId"]) == ("FAILED", -1, -1)


# Request and response validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({**TARGET}, id="no-sql"),
        pytest.param({"Sql": 1, **TARGET}, id="sql-not-a-string"),
        pytest.param({"Sql": "SELECT :a", "Parameters": params(a=""), **TARGET}, id="empty-value"),
        pytest.param(
            {"Sql": "SELECT :a", "Parameters": [{"name": "a", "value": None}], **TARGET},
            id="null-value",
        ),
        pytest.param(
            {"Sql": "SELECT :a", "Parameters": [{"name": "a", "value": 1}], **TARGET},
            id="non-string-value",
        ),
        pytest.param({"Sql": "SELECT 1", "Unknown": 1, **TARGET}, id="unknown-key"),
    ],
)
def test_boto3_rejects_malformed_requests(
    client: LocalDataApiClient, request_: dict[str, Any]
) -> None:
    with pytest.raises(ParamValidationError):
        client.execute_statement(**request_)


def test_boto3_rejects_an_empty_batch(client: LocalDataApiClient) -> None:
    with pytest.raises(ParamValidationError):
        client.batch_execute_statement(Sqls=[], **TARGET)


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({"Sql": "SELECT 1"}, id="no-target"),
        pytest.param(
            {"Sql": "SELECT 1", "ClusterIdentifier": "c1", "Database": "dev"}, id="no-credentials"
        ),
        pytest.param(
            {"Sql": "SELECT 1", "ClusterIdentifier": "c1", "DbUser": "u"}, id="no-database"
        ),
        pytest.param(
            {"Sql": "SELECT 1", "ClusterIdentifier": "Bad_Name", "DbUser": "u", "Database": "d"},
            id="pattern",
        ),
        pytest.param(
            {"Sql": "SELECT :a", "Parameters": params(a="1", b="2"), **TARGET},
            id="unused-parameter",
        ),
        pytest.param({"Sql": "SELECT :a", **TARGET}, id="missing-parameter"),
        pytest.param({"Sql": "SELECT 1", "SessionKeepAliveSeconds": 60, **TARGET}, id="sessions"),
        pytest.param({"Sql": "SELECT 1", "WaitTimeSeconds": 31, **TARGET}, id="wait-too-long"),
        pytest.param({"Sql": "SELECT 1", "ResultFormat": "CSV", **TARGET}, id="csv-results"),
        pytest.param({"Sql": "SELECT '" + "x" * 102_400 + "'", **TARGET}, id="too-long"),
    ],
)
def test_the_service_rejects_invalid_requests(
    client: LocalDataApiClient, request_: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as raised:
        client.execute_statement(**request_)

    assert error_code(raised) == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.operation_name == "ExecuteStatement"


def test_a_workgroup_needs_no_credentials(client: LocalDataApiClient) -> None:
    response = client.execute_statement(Sql="SELECT 1", WorkgroupName="fraud-wg", Database="dev")

    assert response["WorkgroupName"] == "fraud-wg"


def test_a_batch_of_more_than_forty_is_rejected(client: LocalDataApiClient) -> None:
    with pytest.raises(ClientError) as raised:
        client.batch_execute_statement(Sqls=["SELECT 1"] * 41, **TARGET)

    assert error_code(raised) == "ValidationException"


def test_a_malformed_id_is_a_validation_error(client: LocalDataApiClient) -> None:
    with pytest.raises(ClientError) as raised:
        client.describe_statement(Id="not-an-id")

    assert error_code(raised) == "ValidationException"


def test_responses_carry_boto3_metadata(client: LocalDataApiClient) -> None:
    response = client.execute_statement(Sql="SELECT 1", **TARGET)

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["CreatedAt"].tzinfo is not None


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        pytest.param("GetStatementResult", {"TotalNumRows": 1}, id="records-missing"),
        pytest.param(
            "GetStatementResult",
            {"Records": [[{"isNull": True, "stringValue": "x"}]]},
            id="two-union-members",
        ),
        pytest.param("GetStatementResult", {"Records": [[{"longValue": "7"}]]}, id="long-as-text"),
        pytest.param("DescribeStatement", {"Id": "x", "ResultRows": "3"}, id="rows-as-text"),
        pytest.param("ExecuteStatement", {"Id": "x", "Unexpected": 1}, id="unknown-member"),
    ],
)
def test_the_response_check_catches_a_wrong_shape(operation: str, body: dict[str, Any]) -> None:
    with pytest.raises(service_model.ResponseShapeError):
        service_model.validate_response(operation, body)


def test_the_response_check_accepts_what_the_client_returns(alerts: LocalDataApiClient) -> None:
    statement_id = run(alerts, "SELECT * FROM t")

    page = alerts.get_statement_result(Id=statement_id)
    described = alerts.describe_statement(Id=statement_id)

    service_model.validate_response("GetStatementResult", page)
    service_model.validate_response("DescribeStatement", described)


# Helpers, sharing and thread safety -------------------------------------------------------------


def test_calls_are_counted_per_operation(alerts: LocalDataApiClient) -> None:
    before = alerts.calls.copy()

    statement_id = execute(alerts, "SELECT 1")
    alerts.describe_statement(Id=statement_id)
    alerts.get_statement_result(Id=statement_id)

    assert alerts.calls - before == {
        "ExecuteStatement": 1,
        "DescribeStatement": 1,
        "GetStatementResult": 1,
    }


def test_query_local_runs_redshift_sql_and_raises_sql_errors(alerts: LocalDataApiClient) -> None:
    assert alerts.query_local(
        "SELECT NVL(name, :d) FROM t WHERE id = :id", {"d": "?", "id": "t1"}
    ) == [("  ",)]
    with pytest.raises(SqlError) as raised:
        alerts.query_local("SELECT * FROM nope")

    assert raised.value.message == 'ERROR: relation "nope" does not exist'


def test_clients_of_one_file_share_the_database_across_threads(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    first = LocalDataApiClient(path)
    second = LocalDataApiClient(str(tmp_path / "." / "warehouse.duckdb"))
    run(first, "CREATE TABLE hits (worker INT, n INT)")

    def work(client: LocalDataApiClient, worker: int) -> None:
        for n in range(20):
            execute(client, f"INSERT INTO hits VALUES ({worker}, {n})")

    threads = [
        threading.Thread(target=work, args=(client, worker))
        for worker, client in enumerate([first, second, first, second])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert second.query_local("SELECT count(*), count(DISTINCT worker) FROM hits") == [(80, 4)]
    first.close()
    assert second.query_local("SELECT count(*) FROM hits") == [(80,)]
    second.close()
    with LocalDataApiClient(path) as reopened:
        assert reopened.query_local("SELECT count(*) FROM hits") == [(80,)]


def test_the_paginator_follows_tokens_like_boto3(clock: FakeClock) -> None:
    with LocalDataApiClient(":memory:", clock=clock, rows_per_page=3) as client:
        statement_id = run(client, "SELECT * FROM range(7) AS r(n)")

        pages = list(client.get_paginator("get_statement_result").paginate(Id=statement_id))

    assert [len(page["Records"]) for page in pages] == [3, 3, 1]


def test_a_file_another_process_holds_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", HOLD_FILE, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseUnavailableError):
            LocalDataApiClient(path)
    finally:
        holder.communicate("")


# Opens the file for writing, says so, and holds it until its stdin closes.
HOLD_FILE = (
    "import sys, duckdb\n"
    "connection = duckdb.connect(sys.argv[1])\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)


def test_wait_time_seconds_sleeps_on_the_clock_until_the_outcome_shows(clock: FakeClock) -> None:
    with LocalDataApiClient(":memory:", clock=clock, latency=lambda _op: 4.0) as client:
        submitted = client.execute_statement(Sql="SELECT 1", WaitTimeSeconds=1, **TARGET)
        described = client.describe_statement(Id=submitted["Id"], WaitTimeSeconds=10)
        page = client.get_statement_result(Id=submitted["Id"], WaitTimeSeconds=5)

    assert submitted["Status"] == "STARTED"
    assert described["Status"] == "FINISHED"
    assert clock.slept == [1.0, 3.0]
    assert page["Records"] == [[{"longValue": 1}]]
