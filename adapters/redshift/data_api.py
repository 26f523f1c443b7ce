"""Run statements through the Redshift Data API and stream their results.

The Data API is asynchronous: a statement is submitted, then read. `WaitTimeSeconds` lets the
service hold the submitting call until the statement ends (up to 30 s), so a statement costs one
round trip plus one per result page; DescribeStatement, itself waiting, is only needed when a
statement outlives that wait or fails (the submit response carries no error text).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from adapters.observability import logger
from adapters.redshift.fields import FieldValue, row_reader
from domain.ports import Clock, Deadline

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "ABORTED"})

# Codes that say "not now" rather than "never": too many statements or sessions at once, or the
# service itself failing.
_TRANSIENT_CODES = frozenset(
    {
        "ActiveStatementsExceededException",
        "ActiveSessionsExceededException",
        "ActiveWaitingRequestsExceededException",
        "InternalServerException",
        "ThrottlingException",
    }
)

# The Data API keeps a result for 24 hours. After that GetStatementResult answers with a
# ValidationException (the same code as for a malformed request), so the statement's age
# decides; an unknown id is ResourceNotFoundException.
RESULT_LIFETIME = timedelta(hours=24)

_FIRST_POLL_SECONDS = 0.05
_MAX_POLL_SECONDS = 1.0

_TOKEN_NAMESPACE = uuid.UUID("5c1b7c2e-3f5a-4b8e-9d41-7e2f0a6c9b13")


class DataApiError(Exception):
    """Base of every error this adapter raises."""


class StatementFailedError(DataApiError):
    """A statement ended FAILED or ABORTED; `error` is Redshift's own text for it."""

    def __init__(self, statement_id: str, status: str, error: str) -> None:
        super().__init__(f"statement {statement_id} ended {status}: {error}")
        self.statement_id = statement_id
        self.status = status
        self.error = error


class StatementTimeoutError(DataApiError):
    """The run's deadline came before the statement ended; it was cancelled."""


class ResultExpiredError(DataApiError):
    """The statement's result is gone (the Data API keeps results for 24 hours)."""


class DataApiUnavailableError(DataApiError):
    """The Data API kept refusing the call (throttling, too many statements, server errors)."""


@dataclass(frozen=True, slots=True)
class WarehouseTarget:
    """Which warehouse: a provisioned cluster with a secret, or a Serverless workgroup."""

    database: str
    cluster_id: str | None = None
    secret_arn: str | None = None
    workgroup: str | None = None

    def request_fields(self) -> dict[str, str]:
        fields = {"Database": self.database}
        if self.workgroup:
            fields["WorkgroupName"] = self.workgroup
        if self.cluster_id:
            fields["ClusterIdentifier"] = self.cluster_id
        if self.secret_arn:
            fields["SecretArn"] = self.secret_arn
        return fields


@dataclass(frozen=True, slots=True)
class FinishedStatement:
    """A statement that ended FINISHED; for a batch, `result_id` names the sub-statement to read."""

    statement_id: str
    result_id: str | None


def client_token(*parts: str) -> str:
    """A deterministic ClientToken: a retry of the same logical call never runs it twice."""
    return str(uuid.uuid5(_TOKEN_NAMESPACE, "|".join(parts)))


class StatementRunner:
    """Submits statements, waits for them within the run's deadline, and pages their results."""

    def __init__(
        self,
        client: RedshiftDataAPIServiceClient,
        target: WarehouseTarget,
        clock: Clock,
        *,
        wait_seconds: int = 20,
        max_attempts: int = 4,
    ) -> None:
        self._client = client
        self._target = target
        self._clock = clock
        self._wait_seconds = wait_seconds
        self._max_attempts = max_attempts

    def run(
        self,
        sqls: Sequence[str],
        parameters: Mapping[str, str],
        *,
        name: str,
        token: str,
        deadline: Deadline,
        result_index: int | None = None,
    ) -> FinishedStatement:
        """Run `sqls` as one transaction and wait for it; raise if it does not end FINISHED.

        `result_index` (1-based) names the statement of a batch whose result will be read.
        """
        submitted = self._call(lambda: self._submit(sqls, parameters, name, token, deadline))
        statement_id = str(submitted["Id"])
        status = str(submitted.get("Status", "SUBMITTED"))
        description: Mapping[str, Any] | None = None

        if status != "FINISHED":
            description = self._await(statement_id, deadline)
            status = str(description["Status"])
        if status != "FINISHED":
            raise StatementFailedError(
                statement_id, status, str((description or {}).get("Error", ""))
            )

        result_id = None
        if result_index:
            # A batch's results belong to its sub-statements, never to the parent id.
            result_id = statement_id if len(sqls) == 1 else f"{statement_id}:{result_index}"
        logger.debug(
            "statement_finished", extra={"statement_id": statement_id, "statement_name": name}
        )
        return FinishedStatement(statement_id, result_id)

    def records(self, result_id: str) -> Iterator[dict[str, FieldValue]]:
        """Stream a result page by page until no `NextToken` is left; memory holds one page."""
        next_token: str | None = None
        reader = None
        while True:
            request: dict[str, Any] = {"Id": result_id}
            if next_token:
                request["NextToken"] = next_token
            page = self._call(lambda request=request: self._get_result(request))

            if reader is None:
                reader = row_reader(page.get("ColumnMetadata", []))
            for record in page.get("Records", []):
                yield reader(record)

            next_token = page.get("NextToken")
            if not next_token:
                return

    def _submit(
        self,
        sqls: Sequence[str],
        parameters: Mapping[str, str],
        name: str,
        token: str,
        deadline: Deadline,
    ) -> Mapping[str, Any]:
        request: dict[str, Any] = {
            **self._target.request_fields(),
            "StatementName": name,
            "ClientToken": token,
        }
        wait = self._bounded_wait(deadline)
        if wait:
            request["WaitTimeSeconds"] = wait
        if parameters:
            request["Parameters"] = [{"name": k, "value": v} for k, v in parameters.items()]
        if len(sqls) == 1:
            return self._client.execute_statement(Sql=sqls[0], **request)
        return self._client.batch_execute_statement(Sqls=list(sqls), **request)

    def _await(self, statement_id: str, deadline: Deadline) -> Mapping[str, Any]:
        pause = _FIRST_POLL_SECONDS
        while True:
            if not deadline.allows(1.0):
                self._cancel(statement_id)
                raise StatementTimeoutError(f"statement {statement_id} outlived the run's deadline")

            request: dict[str, Any] = {"Id": statement_id}
            wait = self._bounded_wait(deadline)
            if wait:
                request["WaitTimeSeconds"] = wait
            description = self._call(
                lambda request=request: self._client.describe_statement(**request)
            )
            if description["Status"] in TERMINAL_STATES:
                return description  # type: ignore[no-any-return]

            if not wait:
                # Without a server-side wait, poll with a short, growing pause.
                self._clock.sleep(min(pause, max(0.0, deadline.remaining() - 1.0)))
                pause = min(pause * 2, _MAX_POLL_SECONDS)

    def _get_result(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            return self._client.get_statement_result(**request)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException" or (
                _code(exc) == "ValidationException" and self._expired(str(request["Id"]))
            ):
                raise ResultExpiredError(f"result {request['Id']} is no longer available") from exc
            raise

    def _expired(self, result_id: str) -> bool:
        description = self._client.describe_statement(Id=result_id.split(":", 1)[0])
        updated = description.get("UpdatedAt")
        if description.get("Status") != "FINISHED" or not isinstance(updated, datetime):
            return False
        finished = updated.astimezone(UTC).replace(tzinfo=None) if updated.tzinfo else updated
        return self._clock.now() - finished >= RESULT_LIFETIME

    def _cancel(self, statement_id: str) -> None:
        try:
            self._client.cancel_statement(Id=statement_id)
        except ClientError as exc:
            # It may have ended meanwhile; cancelling is a courtesy to the cluster, not a need.
            logger.warning(
                "statement_cancel_failed", extra={"statement_id": statement_id, "code": _code(exc)}
            )

    def _bounded_wait(self, deadline: Deadline) -> int:
        # Never ask the service to hold a call past our own deadline.
        if self._wait_seconds == 0:
            return 0
        return max(0, min(self._wait_seconds, int(min(deadline.remaining(), 3600)) - 1))

    def _call(self, operation: Any) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type(_TransientError),
            wait=wait_random_exponential(multiplier=0.2, max=5),
            stop=stop_after_attempt(self._max_attempts),
            sleep=self._clock.sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            return retrying(_translate_transient, operation)
        except _TransientError as exc:
            raise DataApiUnavailableError(str(exc.__cause__)) from exc.__cause__


class _TransientError(Exception):
    """Internal marker: the call may succeed if tried again."""


def _translate_transient(operation: Any) -> Any:
    try:
        return operation()
    except ClientError as exc:
        if _code(exc) in _TRANSIENT_CODES or _status(exc) >= 500:
            raise _TransientError(_code(exc)) from exc
        raise


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    code = str(outcome.exception()) if outcome is not None else ""
    logger.warning("data_api_retry", extra={"attempt": state.attempt_number, "code": code})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
