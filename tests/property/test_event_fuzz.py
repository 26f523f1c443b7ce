"""Fuzzing the event path: whatever arrives, the Lambda entry point answers and never raises.

Events are arbitrary JSON values, and the sample events with keys dropped or replaced by
arbitrary JSON, `state` and `statementName` varied. For each: `route` returns a status; a sweep
starts only for a well-formed event that asks for one; an event spoiled in a way the handlers
must refuse (no `detail`, a wrong `source` or `detail-type`, an unexpected `state`, a missing or
overlong `statementName`) is ignored, counted, and never builds the runtime.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from handlers import runs, scheduled_sweep, statement_event
from handlers.bootstrap import Runtime
from handlers.events import MAX_STATEMENT_NAME
from handlers.lambda_entry import LocalLambdaContext, route
from handlers.telemetry import metrics
from tests.conftest import shared_path

EVENTS = shared_path() / "events"
SAMPLES = (
    [json.loads(path.read_text(encoding="utf-8")) for path in sorted(EVENTS.glob("*.json"))]
    if EVENTS.is_dir()
    else []
)

STATEMENT_SOURCE = "aws.redshift-data"
STATEMENT_TYPE = "Redshift Data Statement Status Change"
SCHEDULE_SOURCE = "aws.events"
SCHEDULE_TYPE = "Scheduled Event"
PREFIX = "fraud-model:"
TERMINAL = {"FINISHED", "FAILED", "ABORTED"}
STATUSES = {"ignored", "model_run_failed", "done"}

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=8,
)


@dataclass
class Fuzzed:
    """A generated event and whether the handlers must refuse it whatever else it holds."""

    event: Any
    must_ignore: bool
    changes: list[str] = field(default_factory=list)


@st.composite
def spoiled_samples(draw: st.DrawFn) -> Fuzzed:
    event: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    fuzzed = Fuzzed(event, must_ignore=False)

    scheduled = event["source"] == SCHEDULE_SOURCE
    for key in sorted(event):
        action = draw(st.sampled_from(["keep"] * 8 + ["drop", "replace"]))
        if action == "drop":
            del event[key]
            fuzzed.must_ignore |= key in {"detail", "source", "detail-type"}
        elif action == "replace":
            value = draw(json_values)
            fuzzed.must_ignore |= _fatal(key, value, event[key], scheduled=scheduled)
            event[key] = value
        fuzzed.changes.append(f"{key}:{action}")

    if event.get("source") == STATEMENT_SOURCE and isinstance(event.get("detail"), dict):
        _spoil_statement_detail(draw, event["detail"], fuzzed)
    if draw(st.booleans()):
        event[draw(st.text(max_size=8))] = draw(json_values)
    return fuzzed


def _fatal(key: str, value: object, original: object, *, scheduled: bool) -> bool:
    if key in {"source", "detail-type"}:
        return value != original
    if key == "detail":
        # A schedule's detail is free-form (any object); a statement's must have its fields.
        return not (scheduled and isinstance(value, dict)) and value != original
    return False


def _spoil_statement_detail(draw: st.DrawFn, detail: dict[str, Any], fuzzed: Fuzzed) -> None:
    state = draw(
        st.one_of(
            st.just(detail.get("state")),
            st.sampled_from(["FINISHED", "FAILED", "ABORTED", "STARTED", "SUBMITTED", "finished"]),
            json_values,
        )
    )
    detail["state"] = state
    fuzzed.must_ignore |= not (isinstance(state, str) and state in TERMINAL)

    name = draw(
        st.one_of(
            st.just(detail.get("statementName")),
            st.builds(lambda tail: PREFIX + tail, st.text(max_size=30)),
            st.builds(lambda n: PREFIX + "x" * n, st.integers(MAX_STATEMENT_NAME - 20, 700)),
            st.text(max_size=30),
            json_values,
        )
    )
    if name is None:
        detail.pop("statementName", None)
    else:
        detail["statementName"] = name
    bad_name = not isinstance(name, str) or not 1 <= len(name) <= MAX_STATEMENT_NAME
    fuzzed.must_ignore |= bad_name


@dataclass
class Probe:
    """Counts what an event reached: the runtime, the sweep."""

    runtime_builds: int = 0
    sweeps: list[str] = field(default_factory=list)


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Probe]:
    """The embedded default in `tmp_path`, with the sweep replaced by a recorder."""
    if not SAMPLES:
        pytest.skip(f"sample events not found in {EVENTS}")
    for name in ("FRAUD_ALERTS_BACKEND", "AWS_LAMBDA_FUNCTION_NAME", "STATEMENT_NAME_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    real_runtime = runs.runtime
    real_runtime.cache_clear()
    recorder = Probe()

    def counting_runtime() -> Runtime:
        recorder.runtime_builds += 1
        return real_runtime()

    def recording_sweep(event: dict[str, Any], context: Any, *, trigger: str) -> dict[str, Any]:
        recorder.sweeps.append(trigger)
        return {"status": "done", "trigger": trigger}

    monkeypatch.setattr(runs, "runtime", counting_runtime)
    monkeypatch.setattr(statement_event, "sweep_once", recording_sweep)
    monkeypatch.setattr(scheduled_sweep, "sweep_once", recording_sweep)
    yield recorder
    real_runtime.cache_clear()
    metrics.clear_metrics()


# The CI budget, or the profile's when that is larger (FRAUD_ALERTS_HYPOTHESIS_PROFILE=thorough).
# The fixture is shared by every example on purpose: it is the warm Lambda process.
FUZZ = settings(
    max_examples=max(150, settings().max_examples),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(event=json_values)
def test_any_json_value_is_acknowledged_without_raising(probe: Probe, event: Any) -> None:
    metrics.clear_metrics()
    before = _snapshot(probe)

    result = route(event, LocalLambdaContext())

    assert result["status"] == "ignored"
    assert _snapshot(probe) == before
    assert _ignored_count() == 1
    metrics.clear_metrics()


@FUZZ
@given(fuzzed=spoiled_samples())
def test_a_spoiled_event_is_answered_and_sweeps_only_when_well_formed(
    probe: Probe, fuzzed: Fuzzed
) -> None:
    metrics.clear_metrics()
    builds, sweeps = _snapshot(probe)

    result = route(fuzzed.event, LocalLambdaContext())
    event(f"status: {result['status']}, must ignore: {fuzzed.must_ignore}")

    assert result["status"] in STATUSES
    swept = len(probe.sweeps) > sweeps
    if fuzzed.must_ignore:
        assert result["status"] == "ignored", fuzzed.changes
        assert (probe.runtime_builds, swept) == (builds, False)
    if result["status"] == "ignored":
        assert _ignored_count() == 1
    if swept:
        assert result["status"] == "done"
        assert _asks_for_a_sweep(fuzzed.event)
    if result["status"] == "model_run_failed":
        assert fuzzed.event["detail"]["state"] in ("FAILED", "ABORTED")
    metrics.clear_metrics()


def _asks_for_a_sweep(event: dict[str, Any]) -> bool:
    if (event.get("source"), event.get("detail-type")) == (SCHEDULE_SOURCE, SCHEDULE_TYPE):
        return True
    detail = event.get("detail")
    return (
        (event.get("source"), event.get("detail-type")) == (STATEMENT_SOURCE, STATEMENT_TYPE)
        and isinstance(detail, dict)
        and detail.get("state") == "FINISHED"
        and str(detail.get("statementName", "")).startswith(PREFIX)
    )


def _snapshot(probe: Probe) -> tuple[int, int]:
    return probe.runtime_builds, len(probe.sweeps)


def _ignored_count() -> float:
    # Malformed events and other teams' statements are counted apart; each counts once.
    return sum(
        float(sum(metrics.metric_set[name]["Value"]))
        for name in ("MalformedEvents", "IgnoredEvents")
        if name in metrics.metric_set
    )
