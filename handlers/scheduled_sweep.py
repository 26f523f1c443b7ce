"""Lambda handler for the scheduled fallback sweep: the same job when no event came."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from pydantic import ValidationError

from adapters.observability import logger
from handlers.events import ScheduledSweepEvent
from handlers.runs import ignore, sweep_once
from handlers.telemetry import metrics, tracer


def handle(event: Any, context: Any) -> dict[str, Any]:
    """Sweep on a well-formed scheduled event; acknowledge anything else without sending."""
    try:
        parse(event=event, model=ScheduledSweepEvent)
    except (ValidationError, ValueError, TypeError) as exc:
        return ignore("not_a_scheduled_event", error=type(exc).__name__)
    return sweep_once(event, context, trigger="schedule")


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    return handle(event, context)
