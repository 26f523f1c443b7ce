"""The deployed Lambda's entry point: one function serves both triggers, so one process paces SES.

Reserved concurrency 1 on this function (see infra/) means an event-driven run and a scheduled
sweep never send at the same time and together never outrun the account's send rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import monotonic
from typing import Any

from adapters.observability import logger
from handlers import scheduled_sweep, statement_event
from handlers.runs import ignore
from handlers.telemetry import metrics, tracer


def route(event: Any, context: Any) -> dict[str, Any]:
    """Send each event to its handler by `source`; anything else is acknowledged and counted."""
    if not isinstance(event, dict):
        return ignore("event_not_an_object")
    source = event.get("source")
    if source == "aws.events":
        return scheduled_sweep.handle(event, context)
    if source == "aws.redshift-data":
        return statement_event.handle(event, context)
    return ignore("unknown_event_source")


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    return route(event, context)


@dataclass
class LocalLambdaContext:
    """A Lambda context for `fraud-alerts invoke` and tests: a real countdown, made-up ids."""

    timeout_seconds: float = 300.0
    function_name: str = "fraud-alerts-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:111122223333:function:fraud-alerts-local"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    _started: float = field(default_factory=monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self.timeout_seconds - (monotonic() - self._started)) * 1000)
