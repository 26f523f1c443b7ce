"""Lambda handler for Redshift Data API status changes: a finished model run starts alerting."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from botocore.exceptions import ClientError
from pydantic import ValidationError

from adapters.observability import logger
from handlers import runs
from handlers.events import StatementStatusEvent
from handlers.runs import ignore, sweep_once
from handlers.telemetry import count, metrics, tracer


def handle(event: Any, context: Any) -> dict[str, Any]:
    """FINISHED model run: sweep. FAILED/ABORTED: log its error, send nothing. Others: ignore."""
    try:
        parsed = parse(event=event, model=StatementStatusEvent)
    except (ValidationError, ValueError, TypeError) as exc:
        return ignore("malformed_statement_event", error=type(exc).__name__)

    detail = parsed.detail
    prefix = runs.runtime().settings.statement_name_prefix
    if not detail.statement_name.startswith(prefix):
        return ignore(
            "not_a_model_statement", metric="IgnoredEvents", statement_id=detail.statement_id
        )

    if detail.state != "FINISHED":
        return _model_run_failed(detail.statement_id, detail.state)

    logger.info(
        "model_run_finished", extra={"statement_id": detail.statement_id, "rows": detail.rows}
    )
    return sweep_once(event, context, trigger="model_run")


def _model_run_failed(statement_id: str, state: str) -> dict[str, Any]:
    # The event carries no error text; DescribeStatement has it while the statement is kept.
    try:
        error = str(runs.runtime().data_api.describe_statement(Id=statement_id).get("Error", ""))
    except ClientError as exc:
        error = f"unavailable ({exc.response.get('Error', {}).get('Code', 'unknown')})"
    logger.error(
        "model_run_failed", extra={"statement_id": statement_id, "state": state, "error": error}
    )
    count("ModelRunsFailed")
    return {"status": "model_run_failed", "state": state, "error": error}


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    return handle(event, context)
