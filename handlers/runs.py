"""What both Lambda handlers share: the process runtime, the run deadline, the duplicate guard."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from adapters.observability import logger
from domain.ports import Deadline
from handlers.bootstrap import Runtime, build_runtime
from handlers.settings import Settings
from handlers.telemetry import count, record_status, record_sweep

# Stop this long before Lambda's own deadline: enough to commit the batch in flight and
# release a claim taken ahead.
DEADLINE_MARGIN_SECONDS = 10.0


_installed: Runtime | None = None


def install_runtime(prepared: Runtime | None) -> None:
    """Use `prepared` instead of building from the environment (tests); None goes back."""
    global _installed  # noqa: PLW0603 - the process-wide runtime is the point of this module
    _installed = prepared
    runtime.cache_clear()


@functools.cache
def runtime() -> Runtime:
    """Built on the first invocation of a process (the cold start), then reused."""
    return _installed or build_runtime(Settings.from_env())


def run_deadline(context: Any) -> Deadline:
    remaining = context.get_remaining_time_in_millis() / 1000.0
    return Deadline(runtime().clock, max(0.0, remaining - DEADLINE_MARGIN_SECONDS))


def sweep_once(event: dict[str, Any], context: Any, *, trigger: str) -> dict[str, Any]:
    """Run one sweep for `event`, at most once per event id when an idempotency table is set."""
    guarded = _guard(runtime().settings.idempotency_table, context)
    if guarded is None:
        return _sweep(event=event, context=context, trigger=trigger)
    result: dict[str, Any] = guarded(event=event, context=context, trigger=trigger)
    return result


def ignore(reason: str, *, metric: str = "MalformedEvents", **fields: Any) -> dict[str, Any]:
    """Acknowledge an event that asks for nothing: an exception would only buy retries."""
    logger.warning("event_ignored", extra={"reason": reason, **fields})
    count(metric)
    return {"status": "ignored", "reason": reason}


def _sweep(event: dict[str, Any], context: Any, trigger: str) -> dict[str, Any]:
    deadline = run_deadline(context)
    sweep, command = runtime().sweep(deadline, run_id=_run_id(event, context))
    report = sweep.run(command, deadline)
    record_sweep(report)

    if trigger == "schedule" and deadline.allows(5.0):
        record_status(runtime().status(deadline))

    summary = {
        "status": "halted" if report.halt else "done",
        "trigger": trigger,
        "sent": report.sent,
        "rejected": report.rejected_total,
        "deferred": report.deferred_total,
        "batches": report.batches,
        "halt": report.halt,
    }
    logger.info("sweep_finished", extra=summary)
    return summary


def _run_id(event: dict[str, Any], context: Any) -> str:
    # Traceable to the event and the request; Lambda keeps the request id when it retries an
    # asynchronous invocation, so a random suffix keeps every attempt's run id unique.
    event_id = str(event.get("id", "manual"))[:36]
    return f"{event_id}.{str(context.aws_request_id)[:36]}.{uuid.uuid4().hex[:8]}"


def _guard(table: str | None, context: Any) -> Any:
    if not table:
        return None
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=3600)
    # Registering the context lets a timed-out invocation's record expire with the invocation,
    # so Lambda's retry is not blocked for the whole hour.
    config.register_lambda_context(context)
    persistence = _persistence(table)
    return idempotent_function(
        data_keyword_argument="event", config=config, persistence_store=persistence
    )(_sweep)


@functools.cache
def _persistence(table: str) -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table)
