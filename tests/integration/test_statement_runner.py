"""The Data API runner against the stand-in: states, errors, paging, expiry, deadlines."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from adapters.local_warehouse.data_api import LocalDataApiClient
from adapters.redshift.data_api import (
    DataApiUnavailableError,
    ResultExpiredError,
    StatementFailedError,
    StatementRunner,
    StatementTimeoutError,
)
from domain.ports import Deadline
from handlers.bootstrap import LOCAL_TARGET
from tests.fakes import FakeClock

SERIES = "SELECT CAST(n AS INTEGER) AS n FROM (SELECT range AS n FROM range(:count)) s ORDER BY n"


def _runner(client, clock, wait_seconds=0):
    return StatementRunner(client, LOCAL_TARGET, clock, wait_seconds=wait_seconds)


def _numbers(runner, clock, count, token="t"):  # noqa: S107 - a ClientToken, not a secret
    statement = runner.run(
        [SERIES],
        {"count": str(count)},
        name="test",
        token=token,
        deadline=Deadline(clock, None),
        result_index=1,
    )
    return [row["n"] for row in runner.records(statement.result_id)]


@pytest.mark.parametrize("empty_last_page", [False, True])
def test_results_stream_over_several_pages(empty_last_page):
    clock = FakeClock()
    client = LocalDataApiClient(
        ":memory:", clock=clock, rows_per_page=7, empty_last_page=empty_last_page
    )

    numbers = _numbers(_runner(client, clock), clock, 50)

    assert numbers == list(range(50))
    assert client.calls["GetStatementResult"] == 8 + (1 if empty_last_page else 0)


@pytest.mark.parametrize("wait_seconds", [0, 20])
def test_a_slow_statement_is_waited_for_within_the_deadline(wait_seconds):
    clock = FakeClock()
    client = LocalDataApiClient(":memory:", clock=clock, latency=lambda op: 3.0)

    assert _numbers(_runner(client, clock, wait_seconds), clock, 3) == [0, 1, 2]
    if wait_seconds:
        # Waiting server-side: one submit, one read, no polling.
        assert client.calls["DescribeStatement"] == 0
    else:
        assert client.calls["DescribeStatement"] >= 2


def test_a_failed_batch_surfaces_redshifts_error_and_rolls_back():
    clock = FakeClock()
    client = LocalDataApiClient(":memory:", clock=clock)
    runner = _runner(client, clock)
    runner.run(
        ["CREATE TABLE t (n INTEGER)"], {}, name="t", token="a", deadline=Deadline(clock, None)
    )

    with pytest.raises(StatementFailedError) as failure:
        runner.run(
            ["INSERT INTO t VALUES (1)", "SELECT * FROM missing_table"],
            {},
            name="t",
            token="b",
            deadline=Deadline(clock, None),
        )

    assert failure.value.status == "FAILED"
    assert failure.value.error == 'ERROR: relation "missing_table" does not exist'
    assert client.query_local("SELECT COUNT(*) FROM t") == [(0,)]


def test_an_aborted_statement_is_an_error_with_its_status():
    clock = FakeClock()
    client = LocalDataApiClient(":memory:", clock=clock)
    client.inject_failure(lambda sqls: True, "Query cancelled.", status="ABORTED")

    with pytest.raises(StatementFailedError) as failure:
        _numbers(_runner(client, clock), clock, 3)

    assert failure.value.status == "ABORTED"


def test_an_expired_result_is_reported_as_expired_not_retried():
    clock = FakeClock()
    client = LocalDataApiClient(":memory:", clock=clock, result_ttl_seconds=86_400)
    runner = _runner(client, clock)
    statement = runner.run(
        [SERIES],
        {"count": "3"},
        name="t",
        token="a",
        deadline=Deadline(clock, None),
        result_index=1,
    )
    clock.advance(86_401)

    with pytest.raises(ResultExpiredError):
        list(runner.records(statement.result_id))


def test_a_statement_outliving_the_deadline_is_cancelled():
    clock = FakeClock()
    client = LocalDataApiClient(":memory:", clock=clock, latency=lambda op: 120.0)

    with pytest.raises(StatementTimeoutError):
        _runner(client, clock).run(
            [SERIES],
            {"count": "3"},
            name="t",
            token="a",
            deadline=Deadline(clock, 10),
            result_index=1,
        )

    assert client.calls["CancelStatement"] == 1


class _Busy:
    """A Data API that refuses every call with a transient code."""

    def __init__(self):
        self.calls = 0

    def execute_statement(self, **_request):
        self.calls += 1
        raise ClientError(
            {
                "Error": {"Code": "ActiveStatementsExceededException", "Message": "busy"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "ExecuteStatement",
        )


def test_transient_refusals_are_retried_then_reported():
    clock = FakeClock()
    busy = _Busy()

    with pytest.raises(DataApiUnavailableError):
        _runner(busy, clock).run(
            ["SELECT 1"], {}, name="t", token="a", deadline=Deadline(clock, None)
        )

    assert busy.calls == 4
    assert len(clock.slept) == 3
