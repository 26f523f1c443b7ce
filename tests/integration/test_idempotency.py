"""The Powertools idempotency guard of handlers/runs.py, on moto's DynamoDB and the local backend.

Given one EventBridge event, Lambda may deliver it twice (at-least-once delivery) or retry it
after the first attempt timed out. The guard keys on the event id: a second delivery returns the
first result and sends nothing; a timed-out attempt blocks its retry only until that attempt's
own deadline, not for the record's hour.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from domain.ports import Deadline, MailerReport, OutboundEmail
from handlers import runs
from handlers.lambda_entry import LocalLambdaContext, route
from tests.fakes import FakeClock
from tests.warehouse import TestWarehouse, model_row

TABLE = "fraud-alerts-idempotency"


def _event(event_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "111122223333",
        "time": "2026-11-30T14:05:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:111122223333:rule/fraud-alerts-sweep"],
        "detail": {},
    }


class SimulatedCrash(BaseException):
    """The process is killed (Lambda's timeout): no handler code, Powertools' included, runs."""


class _AcceptOneThenDie:
    """Hands the first email to the real outbox, then the process dies before the commit."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def send(self, emails: Sequence[OutboundEmail], deadline: Deadline) -> MailerReport:
        self._inner.send(emails[:1], deadline)
        raise SimulatedCrash


@pytest.fixture
def lambda_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    paths = {"warehouse": tmp_path / "w.duckdb", "outbox": tmp_path / "outbox"}
    monkeypatch.setenv("FRAUD_ALERTS_BACKEND", "local")
    monkeypatch.setenv("LOCAL_WAREHOUSE", str(paths["warehouse"]))
    monkeypatch.setenv("OUTBOX_DIR", str(paths["outbox"]))
    monkeypatch.setenv("IDEMPOTENCY_TABLE", TABLE)
    runs.runtime.cache_clear()
    runs._persistence.cache_clear()
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        warehouse = TestWarehouse(paths["warehouse"], FakeClock())
        warehouse.insert([model_row("t1"), model_row("t2"), model_row("t3")])
        try:
            yield paths
        finally:
            runtime_client = runs.runtime().data_api if runs.runtime.cache_info().currsize else None
            runs.runtime.cache_clear()
            runs._persistence.cache_clear()
            if runtime_client is not None:
                runtime_client.close()
            warehouse.client.close()


def _emails(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


def _record() -> dict[str, Any]:
    # Powertools stores a hash of the event id as the key; each test guards a single event.
    [item] = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return item


def test_the_same_event_delivered_twice_sends_once_and_returns_the_stored_result(
    lambda_env: dict[str, Path],
) -> None:
    event = _event("3e1f0a9b-8c7d-4e6f-a5b4-c3d2e1f0a9b8")

    first = route(event, LocalLambdaContext(aws_request_id="req-1"))
    sent_by_first = _emails(lambda_env["outbox"])
    second = route(event, LocalLambdaContext(aws_request_id="req-2"))

    assert first["sent"] == 3
    assert second == first
    assert _emails(lambda_env["outbox"]) == sent_by_first
    assert len(sent_by_first) == 3
    assert _record()["status"]["S"] == "COMPLETED"


def test_a_different_event_is_not_blocked_by_the_guard(lambda_env: dict[str, Path]) -> None:
    route(_event("11111111-0000-4000-8000-000000000001"), LocalLambdaContext(aws_request_id="a"))

    second = route(
        _event("11111111-0000-4000-8000-000000000002"), LocalLambdaContext(aws_request_id="b")
    )

    assert second["status"] == "done"
    assert second["sent"] == 0
    assert len(_emails(lambda_env["outbox"])) == 3


def test_a_timed_out_attempt_blocks_its_retry_only_until_its_own_deadline(
    lambda_env: dict[str, Path],
) -> None:
    event = _event("22222222-0000-4000-8000-000000000001")
    context = LocalLambdaContext(timeout_seconds=120, aws_request_id="req-timeout")
    runtime = runs.runtime()
    runtime.mailer = _AcceptOneThenDie(runtime.mailer)

    with pytest.raises(SimulatedCrash):
        route(event, context)

    # Then: the record is in progress until the attempt's deadline, not for the hour.
    record = _record()
    now_ms = time.time() * 1000
    in_progress_until = int(record["in_progress_expiration"]["N"])
    assert record["status"]["S"] == "INPROGRESS"
    assert now_ms < in_progress_until <= now_ms + 120_000
    assert int(record["expiration"]["N"]) >= time.time() + 3500

    # When: that deadline has passed (Lambda retries a minute after a timeout) ...
    _age_in_progress_record(record["id"]["S"], in_progress_until - 121_000)
    runtime.mailer = runtime.mailer._inner  # the retry runs in a healthy process
    retry = route(event, LocalLambdaContext(aws_request_id="req-timeout"))

    # ... the retry runs; the dead attempt's batch (t1, batch of 100) stays leased, so the
    # retry sends nothing twice, and the guard now holds the retry's result.
    assert retry["status"] == "done"
    assert retry["sent"] == 0
    assert len(_emails(lambda_env["outbox"])) == 1
    assert _record()["status"]["S"] == "COMPLETED"


def _age_in_progress_record(key: str, expired_at_ms: int) -> None:
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"id": {"S": key}},
        UpdateExpression="SET in_progress_expiration = :expired",
        ExpressionAttributeValues={":expired": {"N": str(expired_at_ms)}},
    )
