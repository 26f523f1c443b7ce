"""Malformed events are acknowledged, logged as a warning with the reason and counted; nothing more.

Each case goes through the Lambda entry point (`route`) on the embedded default. A malformed
event must not raise (that would only buy retries), must not build the runtime or touch the
warehouse, and must send nothing.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.observability import SERVICE_NAME
from handlers import runs
from handlers.lambda_entry import LocalLambdaContext, route
from handlers.telemetry import metrics

SAMPLES = (
    "model-run-finished",
    "model-run-failed",
    "unrelated-statement-finished",
    "scheduled-sweep",
)


@pytest.fixture
def samples(shared_dir: Path) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads((shared_dir / "events" / f"{name}.json").read_text(encoding="utf-8"))
        for name in SAMPLES
    }


class RecordList(logging.Handler):
    """Keeps the service logger's records; caplog would depend on the logger propagating."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[RecordList]:
    handler = RecordList()
    service_logger = logging.getLogger(SERVICE_NAME)
    level = service_logger.level
    service_logger.addHandler(handler)
    service_logger.setLevel(logging.INFO)
    yield handler
    service_logger.removeHandler(handler)
    service_logger.setLevel(level)


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The embedded default in `tmp_path`; the runtime cache is cleared around each test."""
    for name in ("FRAUD_ALERTS_BACKEND", "AWS_LAMBDA_FUNCTION_NAME", "STATEMENT_NAME_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    warehouse = tmp_path / "warehouse" / "w.duckdb"
    monkeypatch.setenv("LOCAL_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    runs.runtime.cache_clear()
    metrics.clear_metrics()
    yield warehouse
    runs.runtime.cache_clear()
    metrics.clear_metrics()


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.pop(key)


def _detail_without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda event: event["detail"].pop(key)


def _setting(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.__setitem__(key, value)


def _detail_setting(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda event: event["detail"].__setitem__(key, value)


# (case id, sample it starts from, how it is spoiled, the reason the handler must give)
SPOILED = [
    ("missing detail", "model-run-finished", _without("detail"), "malformed_statement_event"),
    (
        "detail not an object",
        "model-run-finished",
        _setting("detail", []),
        "malformed_statement_event",
    ),
    ("detail null", "model-run-finished", _setting("detail", None), "malformed_statement_event"),
    (
        "unknown detail-type",
        "model-run-finished",
        _setting("detail-type", "Redshift Cluster State Change"),
        "malformed_statement_event",
    ),
    (
        "missing detail-type",
        "model-run-finished",
        _without("detail-type"),
        "malformed_statement_event",
    ),
    ("unknown source", "model-run-finished", _setting("source", "aws.s3"), "unknown_event_source"),
    ("missing source", "model-run-finished", _without("source"), "unknown_event_source"),
    (
        "source not a string",
        "model-run-finished",
        _setting("source", ["aws.events"]),
        "unknown_event_source",
    ),
    (
        "state STARTED",
        "model-run-finished",
        _detail_setting("state", "STARTED"),
        "malformed_statement_event",
    ),
    (
        "state lower case",
        "model-run-finished",
        _detail_setting("state", "finished"),
        "malformed_statement_event",
    ),
    ("missing state", "model-run-finished", _detail_without("state"), "malformed_statement_event"),
    (
        "missing statementName",
        "model-run-finished",
        _detail_without("statementName"),
        "malformed_statement_event",
    ),
    (
        "empty statementName",
        "model-run-finished",
        _detail_setting("statementName", ""),
        "malformed_statement_event",
    ),
    (
        "overlong statementName",
        "model-run-finished",
        _detail_setting("statementName", "fraud-model:" + "x" * 500),
        "malformed_statement_event",
    ),
    (
        "statementName not a string",
        "model-run-finished",
        _detail_setting("statementName", 7),
        "malformed_statement_event",
    ),
    (
        "missing statementId",
        "model-run-failed",
        _detail_without("statementId"),
        "malformed_statement_event",
    ),
    (
        "overlong statementId",
        "model-run-failed",
        _detail_setting("statementId", "9" * 129),
        "malformed_statement_event",
    ),
    ("scheduled: missing detail", "scheduled-sweep", _without("detail"), "not_a_scheduled_event"),
    (
        "scheduled: unknown detail-type",
        "scheduled-sweep",
        _setting("detail-type", "Custom"),
        "not_a_scheduled_event",
    ),
    ("scheduled: missing id", "scheduled-sweep", _without("id"), "not_a_scheduled_event"),
    (
        "scheduled: time not a time",
        "scheduled-sweep",
        _setting("time", "yesterday"),
        "not_a_scheduled_event",
    ),
]

NOT_OBJECTS = [None, [], ["event"], "event", 42, 1.5, True, '{"source": "aws.events"}']


@pytest.mark.parametrize("case", SPOILED, ids=[case[0] for case in SPOILED])
def test_a_malformed_event_is_ignored_with_its_reason(
    samples: dict[str, dict[str, Any]],
    local_env: Path,
    logged: RecordList,
    case: tuple[str, str, Callable[[dict[str, Any]], None], str],
) -> None:
    _, sample, spoil, reason = case
    event = copy.deepcopy(samples[sample])
    spoil(event)

    _assert_ignored(route(event, LocalLambdaContext()), reason, local_env, logged)


@pytest.mark.parametrize(
    "event", NOT_OBJECTS, ids=[type(e).__name__ + repr(e)[:12] for e in NOT_OBJECTS]
)
def test_an_event_that_is_not_an_object_is_ignored(
    event: object, local_env: Path, logged: RecordList
) -> None:
    _assert_ignored(route(event, LocalLambdaContext()), "event_not_an_object", local_env, logged)


def test_another_teams_statement_is_ignored_and_counted_apart(
    samples: dict[str, dict[str, Any]], local_env: Path, logged: RecordList
) -> None:
    result = route(samples["unrelated-statement-finished"], LocalLambdaContext())

    assert result == {"status": "ignored", "reason": "not_a_model_statement"}
    assert _counted("IgnoredEvents") == 1
    assert _counted("MalformedEvents") == 0
    assert _warnings(logged) == [("event_ignored", "not_a_model_statement")]


def test_a_failed_model_run_is_reported_without_sending(
    samples: dict[str, dict[str, Any]], local_env: Path
) -> None:
    result = route(samples["model-run-failed"], LocalLambdaContext())

    assert result["status"] == "model_run_failed"
    assert result["state"] == "FAILED"
    assert _counted("ModelRunsFailed") == 1
    assert list(local_env.parent.parent.rglob("*.eml")) == []


def _assert_ignored(
    result: dict[str, Any], reason: str, warehouse: Path, logged: RecordList
) -> None:
    assert result == {"status": "ignored", "reason": reason}
    assert _warnings(logged) == [("event_ignored", reason)]
    assert _counted("MalformedEvents") == 1
    # Neither the runtime nor the warehouse was touched, so nothing can have been sent.
    assert runs.runtime.cache_info().currsize == 0
    assert not warehouse.exists()
    assert not (warehouse.parent.parent / "outbox").exists()


def _warnings(logged: RecordList) -> list[tuple[str, str]]:
    return [
        (record.getMessage(), str(getattr(record, "reason", "")))
        for record in logged.records
        if record.levelno >= logging.WARNING
    ]


def _counted(name: str) -> float:
    entry = metrics.metric_set.get(name)
    return float(sum(entry["Value"])) if entry else 0.0
