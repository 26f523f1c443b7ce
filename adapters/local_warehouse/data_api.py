"""A stand-in for boto3's `redshift-data` client, backed by an embedded DuckDB database.

`LocalDataApiClient` answers ExecuteStatement, BatchExecuteStatement, DescribeStatement,
GetStatementResult and CancelStatement with boto3's keyword names, return shapes and errors, so
the production adapter runs unchanged against it. Behaviour worth knowing:

- SQL runs eagerly, at submit time, in one DuckDB transaction per statement or batch, under a
  lock shared by every client of the same database: transactions are fully serialised, which is
  the guarantee Redshift's `LOCK` gives. Only the *visibility* of the outcome is delayed: a
  statement reads SUBMITTED, then STARTED, until the injected clock's `monotonic()` reaches its
  finish time (`latency(operation_name)` seconds after submission), then FINISHED/FAILED/ABORTED.
  Consequently `cancel_statement` on a statement that is still running loses the race: it answers
  `Status: False` and the statement finishes (its transaction has already committed).
- Each call is its own session, as in the Data API without `SessionId`: a TEMP table lives for
  one statement or batch (each runs on a fresh DuckDB cursor). Sessions (`SessionId`,
  `SessionKeepAliveSeconds`), `ResultFormat="CSV"` and `ExecutionMode="AUTO_COMMIT"` are not
  supported and answer `ValidationException`. `WaitTimeSeconds` sleeps on the injected clock
  (outside the lock) until the statement's outcome shows or the wait is over.
- Statements, idempotency tokens and events belong to one client instance; the database file
  and its lock are shared by all instances in the process (a registry keyed by resolved path).
  DuckDB lets only one process open a database file for writing, so two processes (a CLI and a
  test run, say) cannot use the same file at the same time.
- `ClientToken`: the same token with the same request, within `IDEMPOTENCY_WINDOW_SECONDS`
  (8 hours, AWS's usual window; the Data API documents none), returns the first statement's id
  without running it again; the same token with a different request is a `ValidationException`
  (the redshift-data model has no conflict error).
- An expired result (`result_ttl_seconds` after the statement finished) answers
  `ValidationException`, as AWS does ("could not retrieve the query result as it has expired",
  reported in pulumi/pulumi-aws#2055); DescribeStatement keeps answering.
- The `Database` parameter is accepted but not used: a client has exactly one database.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from botocore.exceptions import ClientError

from adapters.clock import SystemClock
from adapters.local_warehouse import dialect, results, service_model
from adapters.local_warehouse.dialect import (
    LocalWarehouseError,
    LockStatement,
    SqlError,
    TranslatedStatement,
)
from adapters.observability import logger
from domain.ports import Clock

IDEMPOTENCY_WINDOW_SECONDS = 8 * 3600
MAX_ACTIVE_STATEMENTS = 200
MAX_SQL_BYTES = 100 * 1024
LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "eu-west-1"
EVENT_SOURCE = "aws.redshift-data"
EVENT_DETAIL_TYPE = "Redshift Data Statement Status Change"

# Pages are checked against the output shape up to this many records: every record of a page is
# built by the same per-column converters, and checking 1,000 rows costs about 80 ms.
VALIDATED_RECORDS_PER_PAGE = 50

_TERMINAL = frozenset({"FINISHED", "FAILED", "ABORTED"})
_UNSUPPORTED = ("SessionId", "SessionKeepAliveSeconds")
_TARGET_KEYS = ("ClusterIdentifier", "WorkgroupName", "Database", "DbUser", "SecretArn")

__all__ = [
    "LocalDataApiClient",
    "LocalWarehouseError",
    "SqlError",
    "StatementResultPaginator",
    "WarehouseUnavailableError",
]


class WarehouseUnavailableError(LocalWarehouseError):
    """The database file cannot be opened; DuckDB allows one writing process per file."""


@dataclass(slots=True)
class _SharedDatabase:
    """One DuckDB database per file in this process, and the lock that serialises its writers."""

    connection: duckdb.DuckDBPyConnection
    lock: threading.RLock
    query_ids: Iterator[int]
    users: int = 1


_registry: dict[str, _SharedDatabase] = {}
_registry_lock = threading.Lock()


def _open_database(database: str | Path) -> tuple[str | None, _SharedDatabase]:
    if str(database) == ":memory:":
        return None, _new_database(":memory:")

    key = str(Path(database).resolve())
    with _registry_lock:
        shared = _registry.get(key)
        if shared is None:
            shared = _registry[key] = _new_database(key)
        else:
            shared.users += 1
        return key, shared


def _new_database(path: str) -> _SharedDatabase:
    try:
        connection = duckdb.connect(path)
    except duckdb.IOException as exc:
        # Most often another process (a CLI, a test run) has the file open for writing.
        raise WarehouseUnavailableError(f"cannot open the local warehouse {path}: {exc}") from exc
    # Redshift sessions run in UTC and the warehouse stores timestamps without a zone.
    connection.execute("SET GLOBAL TimeZone = 'UTC'")
    return _SharedDatabase(connection, threading.RLock(), itertools.count(1_000_001))


def _release_database(key: str | None, shared: _SharedDatabase) -> None:
    with _registry_lock:
        shared.users -= 1
        if shared.users > 0:
            return
        if key is not None:
            _registry.pop(key, None)
    shared.connection.close()


@dataclass(slots=True)
class _SubStatement:
    sql: str
    status: str = "FINISHED"
    error: str | None = None
    has_result_set: bool = False
    columns: list[results.Column] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    result_rows: int = 0
    query_id: int = -1
    result_size: int | None = None


@dataclass(slots=True)
class _Statement:
    id: str
    operation: str
    request: dict[str, Any]
    created_at: datetime
    created_mono: float
    finish_mono: float
    duration_ns: int
    status: str
    error: str | None
    subs: list[_SubStatement]
    pid: int

    @property
    def is_batch(self) -> bool:
        return self.operation == "BatchExecuteStatement"

    @property
    def finished_at(self) -> datetime:
        return self.created_at + timedelta(seconds=self.finish_mono - self.created_mono)


@dataclass(slots=True)
class _Injection:
    matcher: Callable[[list[str]], bool]
    error: str
    status: str
    times: int


@dataclass(frozen=True, slots=True)
class _Token:
    fingerprint: str
    statement_id: str
    issued_mono: float


class LocalDataApiClient:
    """The embedded Data API: boto3's `redshift-data` client over a DuckDB file (or `:memory:`).

    `rows_per_page` sizes GetStatementResult pages; `empty_last_page` makes the last page empty
    (the page before it still carries a NextToken), as AWS sometimes does; `latency` gives the
    seconds an operation takes before its terminal state shows; `clock` drives every time the
    client reports; results expire `result_ttl_seconds` after a statement finished.

    `max_retained_statements` bounds what a long-lived client remembers (the benchmarks drain
    100,000 alerts through one client): past it, the oldest finished statements are forgotten,
    results and idempotency tokens included, and their ids then answer ResourceNotFoundException
    like any unknown id. None, the default, keeps every statement, as the Data API does for 24 h.
    """

    def __init__(
        self,
        database: str | Path,
        *,
        rows_per_page: int = 1000,
        empty_last_page: bool = False,
        latency: Callable[[str], float] | None = None,
        clock: Clock | None = None,
        result_ttl_seconds: float = 86400,
        max_retained_statements: int | None = None,
    ) -> None:
        if rows_per_page < 1:
            raise ValueError("rows_per_page must be at least 1")
        if max_retained_statements is not None and max_retained_statements < 1:
            raise ValueError("max_retained_statements must be at least 1")
        self._key, self._db = _open_database(database)
        self._rows_per_page = rows_per_page
        self._empty_last_page = empty_last_page
        self._latency = latency or (lambda _operation: 0.0)
        self._clock: Clock = clock or SystemClock()
        self._result_ttl = result_ttl_seconds
        self._max_retained = max_retained_statements
        self._statements: dict[str, _Statement] = {}
        self._tokens: dict[str, _Token] = {}
        self._injections: list[_Injection] = []
        self._pending_events: list[tuple[float, dict[str, Any]]] = []
        self._events: list[dict[str, Any]] = []
        self._pids = itertools.count(1_073_741_824)
        self._closed = False
        self.calls: Counter[str] = Counter()

    # The Data API operations ------------------------------------------------------------------

    def execute_statement(self, **kwargs: Any) -> dict[str, Any]:
        return self._submit("ExecuteStatement", kwargs, [kwargs.get("Sql")])

    def batch_execute_statement(self, **kwargs: Any) -> dict[str, Any]:
        sqls = kwargs.get("Sqls")
        return self._submit("BatchExecuteStatement", kwargs, sqls if isinstance(sqls, list) else [])

    def describe_statement(self, **kwargs: Any) -> dict[str, Any]:
        operation = "DescribeStatement"
        self._check_request(operation, kwargs)
        self._wait(operation, kwargs["Id"], kwargs.get("WaitTimeSeconds"))
        with self._db.lock:
            statement, sub_index = self._find(operation, kwargs["Id"])
            if sub_index is None:
                response = self._describe(statement)
            else:
                response = self._describe_sub(statement, sub_index)
        return self._respond(operation, response)

    def get_statement_result(self, **kwargs: Any) -> dict[str, Any]:
        operation = "GetStatementResult"
        self._check_request(operation, kwargs)
        self._wait(operation, kwargs["Id"], kwargs.get("WaitTimeSeconds"))
        with self._db.lock:
            statement, sub_index = self._find(operation, kwargs["Id"])
            sub = self._readable_result(operation, statement, sub_index, kwargs["Id"])
            offset = self._page_offset(operation, kwargs["Id"], kwargs.get("NextToken"))
            response = self._page(kwargs["Id"], sub, offset)
        return self._respond(operation, response, validated_records=VALIDATED_RECORDS_PER_PAGE)

    def cancel_statement(self, **kwargs: Any) -> dict[str, Any]:
        operation = "CancelStatement"
        self._check_request(operation, kwargs)
        with self._db.lock:
            statement, sub_index = self._find(operation, kwargs["Id"])
            status = self._visible_status(statement)
            if sub_index is not None or status in _TERMINAL:
                raise _error(
                    "ValidationException",
                    f"Could not cancel a query that is already in {status} status.",
                    operation,
                )
        # The SQL already committed at submit time, so the cancel always arrives too late.
        logger.debug("local data api cancel lost the race", statement_id=statement.id)
        return self._respond(operation, {"Status": False})

    def get_paginator(self, operation_name: str) -> StatementResultPaginator:
        """boto3's paginator for `get_statement_result` (iteration over pages only)."""
        if operation_name != "get_statement_result":
            raise ValueError(f"the local client has no paginator for {operation_name}")
        return StatementResultPaginator(self)

    # Test and admin helpers -------------------------------------------------------------------

    def inject_failure(
        self,
        matcher: Callable[[list[str]], bool],
        error: str,
        *,
        status: str = "FAILED",
        times: int = 1,
    ) -> None:
        """Make the next `times` statements or batches whose SQL list matches end in `status`
        (FAILED or ABORTED) with `error`; their effects are rolled back (nothing is committed)."""
        if status not in ("FAILED", "ABORTED"):
            raise ValueError("status must be FAILED or ABORTED")
        with self._db.lock:
            self._injections.append(_Injection(matcher, error, status, times))

    @property
    def emitted_events(self) -> list[dict[str, Any]]:
        """EventBridge events of `WithEvent=True` statements whose terminal state is visible."""
        with self._db.lock:
            self._publish_due_events()
            return self._events

    def query_local(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one Redshift statement directly (tests, local admin); raise `SqlError` on failure.

        Unlike the Data API, `params` values may be of any type DuckDB binds (None included).
        """
        statement = dialect.translate(sql)
        with self.transaction() as cursor:
            if isinstance(statement, LockStatement):
                _check_tables_exist(cursor, statement.tables)
                return []
            bound = {name: (params or {})[name] for name in statement.parameters}
            try:
                cursor.execute(statement.duckdb_sql, dialect.binding(bound))
            except duckdb.Error as exc:
                raise SqlError(_redshift_message(cursor, statement, exc)) from exc
            return cursor.fetchall() if statement.has_result_set else []

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB cursor in its own transaction under the database lock (for bulk loads)."""
        with self._db.lock:
            cursor = self._db.connection.cursor()
            try:
                cursor.begin()
                try:
                    yield cursor
                except BaseException:
                    cursor.rollback()
                    raise
                cursor.commit()
            finally:
                cursor.close()

    def close(self) -> None:
        """Release the database; the file closes when its last client in the process closes."""
        if not self._closed:
            self._closed = True
            _release_database(self._key, self._db)

    def __enter__(self) -> LocalDataApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # Submission -------------------------------------------------------------------------------

    def _submit(self, operation: str, request: dict[str, Any], sqls: list[Any]) -> dict[str, Any]:
        self._check_request(operation, request)
        _check_target(operation, request)
        _check_sql_sizes(operation, sqls)

        with self._db.lock:
            self._publish_due_events()
            replay = self._replay(operation, request)
            if replay is not None:
                return self._respond(operation, self._submitted(replay))

            self._check_capacity(operation)
            translated = _translate_all(sqls)
            _check_parameters(operation, translated, request.get("Parameters", []))
            statement = self._run(operation, request, sqls, translated)
            self._remember(operation, request, statement)

        logger.debug(
            "local data api statement submitted",
            statement_id=statement.id,
            operation=operation,
            status=statement.status,
        )
        waited = request.get("WaitTimeSeconds")
        if not waited:
            return self._respond(operation, self._submitted(statement))

        self._wait(operation, statement.id, waited)
        with self._db.lock:
            response = self._submitted(statement)
            response["Status"] = self._visible_status(statement)
            response["HasResultSet"] = any(sub.has_result_set for sub in statement.subs)
            response["RedshiftPid"] = statement.pid
        return self._respond(operation, response)

    def _wait(self, operation: str, statement_id: str, seconds: int | None) -> None:
        """Sleep on the clock, without the lock, until the outcome shows or `seconds` pass."""
        if not seconds:
            return
        with self._db.lock:
            statement, _sub_index = self._find(operation, statement_id)
            remaining = statement.finish_mono - self._clock.monotonic()
        if remaining > 0:
            self._clock.sleep(min(remaining, float(seconds)))

    def _check_request(self, operation: str, request: dict[str, Any]) -> None:
        with self._db.lock:
            self.calls[operation] += 1
        if self._closed:
            raise _error("InternalServerException", "The local client is closed.", operation)
        service_model.validate_request(operation, request)

        problem = service_model.service_side_problem(operation, request)
        if problem is not None:
            raise _error("ValidationException", problem, operation)
        unsupported = [key for key in _UNSUPPORTED if key in request]
        if request.get("ResultFormat", "JSON") != "JSON":
            unsupported.append("ResultFormat")
        if request.get("ExecutionMode", "TRANSACTION") != "TRANSACTION":
            unsupported.append("ExecutionMode")
        if unsupported:
            names = ", ".join(unsupported)
            raise _error("ValidationException", f"Not supported locally: {names}", operation)

    def _replay(self, operation: str, request: dict[str, Any]) -> _Statement | None:
        token = request.get("ClientToken")
        if token is None:
            return None
        now = self._clock.monotonic()
        self._tokens = {
            key: seen
            for key, seen in self._tokens.items()
            if now - seen.issued_mono < IDEMPOTENCY_WINDOW_SECONDS
        }
        seen = self._tokens.get(token)
        if seen is None:
            return None
        if seen.fingerprint != _fingerprint(operation, request):
            raise _error(
                "ValidationException",
                "The ClientToken was already used with a different request.",
                operation,
            )
        return self._statements[seen.statement_id]

    def _remember(self, operation: str, request: dict[str, Any], statement: _Statement) -> None:
        token = request.get("ClientToken")
        if token is not None:
            fingerprint = _fingerprint(operation, request)
            self._tokens[token] = _Token(fingerprint, statement.id, statement.created_mono)
        self._forget_oldest()

    def _forget_oldest(self) -> None:
        if self._max_retained is None or len(self._statements) <= self._max_retained:
            return
        # Dicts keep insertion order, so the first entries are the oldest; a statement still
        # running is kept (a caller may be waiting on it), and so is everything after it.
        excess = len(self._statements) - self._max_retained
        for statement_id in list(itertools.islice(self._statements, excess)):
            if not self._is_visible(self._statements[statement_id]):
                break
            del self._statements[statement_id]
        self._tokens = {
            token: seen
            for token, seen in self._tokens.items()
            if seen.statement_id in self._statements
        }

    def _check_capacity(self, operation: str) -> None:
        active = sum(
            1 for statement in self._statements.values() if not self._is_visible(statement)
        )
        if active >= MAX_ACTIVE_STATEMENTS:
            raise _error(
                "ActiveStatementsExceededException",
                f"Active statements exceeded the limit of {MAX_ACTIVE_STATEMENTS}.",
                operation,
            )

    def _run(
        self,
        operation: str,
        request: dict[str, Any],
        sqls: list[str],
        translated: list[dialect.Statement | SqlError],
    ) -> _Statement:
        started = time.perf_counter_ns()
        injection = self._take_injection(sqls)
        if injection is not None:
            subs = _injected_outcome(sqls, injection)
        else:
            subs = self._execute(translated, sqls, _parameters(request))
        elapsed_ns = time.perf_counter_ns() - started

        failed = next((sub for sub in subs if sub.error is not None), None)
        latency = max(0.0, float(self._latency(operation)))
        now_mono = self._clock.monotonic()
        statement = _Statement(
            id=str(uuid.uuid4()),
            operation=operation,
            request=dict(request),
            created_at=self._clock.now(),
            created_mono=now_mono,
            finish_mono=now_mono + latency,
            duration_ns=elapsed_ns + int(latency * 1e9),
            status=failed.status if failed else "FINISHED",
            error=failed.error if failed else None,
            subs=subs,
            pid=next(self._pids),
        )
        self._statements[statement.id] = statement
        if request.get("WithEvent"):
            self._pending_events.append((statement.finish_mono, self._event(statement)))
        return statement

    def _take_injection(self, sqls: list[str]) -> _Injection | None:
        for injection in self._injections:
            if injection.times > 0 and injection.matcher(list(sqls)):
                injection.times -= 1
                return injection
        return None

    def _execute(
        self,
        translated: list[dialect.Statement | SqlError],
        sqls: list[str],
        parameters: dict[str, str],
    ) -> list[_SubStatement]:
        subs = [_SubStatement(sql=sql) for sql in sqls]
        with self._db.lock:
            cursor = self._db.connection.cursor()
            try:
                cursor.begin()
                failed_at = self._execute_in(cursor, translated, subs, parameters)
                if failed_at is None:
                    cursor.commit()
                else:
                    cursor.rollback()
                    _abort_others(subs, failed_at)
            finally:
                cursor.close()
        return subs

    def _execute_in(
        self,
        cursor: duckdb.DuckDBPyConnection,
        translated: list[dialect.Statement | SqlError],
        subs: list[_SubStatement],
        parameters: dict[str, str],
    ) -> int | None:
        for index, (statement, sub) in enumerate(zip(translated, subs, strict=True)):
            try:
                if isinstance(statement, SqlError):
                    raise statement
                _execute_one(cursor, statement, sub, parameters)
            except SqlError as exc:
                sub.status, sub.error = "FAILED", exc.message
                return index
            sub.query_id = next(self._db.query_ids)
        return None

    # Reading state ----------------------------------------------------------------------------

    def _find(self, operation: str, statement_id: str) -> tuple[_Statement, int | None]:
        self._publish_due_events()
        parent_id, _, suffix = statement_id.partition(":")
        statement = self._statements.get(parent_id)
        if statement is None or (suffix and not statement.is_batch):
            raise _not_found(operation, statement_id)
        if not suffix:
            return statement, None
        index = int(suffix) - 1 if suffix.isdigit() else -1
        if not 0 <= index < len(statement.subs):
            raise _not_found(operation, statement_id)
        return statement, index

    def _is_visible(self, statement: _Statement) -> bool:
        return self._clock.monotonic() >= statement.finish_mono

    def _visible_status(self, statement: _Statement, status: str | None = None) -> str:
        if self._is_visible(statement):
            return status or statement.status
        return "SUBMITTED" if self._clock.monotonic() <= statement.created_mono else "STARTED"

    def _submitted(self, statement: _Statement) -> dict[str, Any]:
        response: dict[str, Any] = {"Id": statement.id, "CreatedAt": _aware(statement.created_at)}
        response.update(_target(statement.request))
        return response

    def _describe(self, statement: _Statement) -> dict[str, Any]:
        visible = self._is_visible(statement)
        response = self._times(statement, self._visible_status(statement), visible)
        response.update(_target(statement.request))
        response["Id"] = statement.id
        response["QueryString"] = "; ".join(sub.sql for sub in statement.subs)
        response["HasResultSet"] = any(sub.has_result_set for sub in statement.subs)
        response["RedshiftPid"] = statement.pid
        response["ResultFormat"] = "JSON"
        if statement.request.get("Parameters"):
            response["QueryParameters"] = statement.request["Parameters"]
        if not visible:
            return response

        response["ResultRows"] = sum(sub.result_rows for sub in statement.subs)
        response["ResultSize"] = sum(_result_size(sub) for sub in statement.subs)
        response["RedshiftQueryId"] = max(sub.query_id for sub in statement.subs)
        if statement.error is not None:
            response["Error"] = statement.error
            response["ResultRows"] = response["ResultSize"] = -1
        if statement.is_batch:
            response["SubStatements"] = [
                self._describe_sub(statement, index, include_target=False)
                for index in range(len(statement.subs))
            ]
        return response

    def _describe_sub(
        self, statement: _Statement, index: int, *, include_target: bool = True
    ) -> dict[str, Any]:
        sub = statement.subs[index]
        visible = self._is_visible(statement)
        response = self._times(statement, self._visible_status(statement, sub.status), visible)
        if include_target:
            response.update(_target(statement.request))
        response["Id"] = f"{statement.id}:{index + 1}"
        response["QueryString"] = sub.sql
        response["HasResultSet"] = sub.has_result_set
        if visible:
            response["ResultRows"] = sub.result_rows if sub.error is None else -1
            response["ResultSize"] = _result_size(sub) if sub.error is None else -1
            response["RedshiftQueryId"] = sub.query_id
            if sub.error is not None:
                response["Error"] = sub.error
        return response

    def _times(self, statement: _Statement, status: str, visible: bool) -> dict[str, Any]:
        updated = statement.finished_at if visible else statement.created_at
        return {
            "Status": status,
            "CreatedAt": _aware(statement.created_at),
            "UpdatedAt": _aware(updated),
            "Duration": statement.duration_ns if visible else -1,
            "ResultRows": -1,
            "ResultSize": -1,
            "RedshiftQueryId": 0,
        }

    def _readable_result(
        self, operation: str, statement: _Statement, sub_index: int | None, statement_id: str
    ) -> _SubStatement:
        if sub_index is None and statement.is_batch:
            raise _error(
                "ValidationException",
                "A batch's results are read per sub-statement: use an id ending in :N.",
                operation,
            )
        sub = statement.subs[sub_index or 0]
        status = self._visible_status(statement, sub.status)
        if status != "FINISHED":
            message = f"Query {statement_id} is in {status} status; results need FINISHED."
            raise _error("ValidationException", message, operation)
        if not sub.has_result_set:
            raise _error("ValidationException", "The statement has no result set.", operation)

        expire_mono = statement.finish_mono + self._result_ttl
        if self._clock.monotonic() > expire_mono:
            expired_at = _epoch(statement.finished_at) + int(self._result_ttl)
            message = f"The query result expired at {expired_at} and can no longer be read."
            raise _error("ValidationException", message, operation)
        return sub

    def _page_offset(self, operation: str, statement_id: str, token: str | None) -> int:
        if token is None:
            return 0
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode() + b"=="))
            if decoded["id"] == statement_id and isinstance(decoded["offset"], int):
                return int(decoded["offset"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            pass
        raise _error("ValidationException", "The NextToken is not valid.", operation)

    def _page(self, statement_id: str, sub: _SubStatement, offset: int) -> dict[str, Any]:
        end = offset + self._rows_per_page
        total = len(sub.rows)
        response: dict[str, Any] = {
            "Records": [results.record(row, sub.columns) for row in sub.rows[offset:end]],
            "ColumnMetadata": [column.metadata() for column in sub.columns],
            "TotalNumRows": total,
        }
        more = end < total or (self._empty_last_page and offset < total and end >= total)
        if more:
            response["NextToken"] = _next_token(statement_id, min(end, total))
        return response

    # Events -----------------------------------------------------------------------------------

    def _publish_due_events(self) -> None:
        now = self._clock.monotonic()
        due = [entry for entry in self._pending_events if entry[0] <= now]
        if due:
            self._pending_events = [entry for entry in self._pending_events if entry[0] > now]
            self._events.extend(event for _finish, event in sorted(due, key=lambda e: e[0]))

    def _event(self, statement: _Statement) -> dict[str, Any]:
        request = statement.request
        succeeded = statement.status == "FINISHED"
        rows = sum(sub.result_rows for sub in statement.subs) if succeeded else -1
        query_id = max(sub.query_id for sub in statement.subs) if succeeded else -1
        finished_at = statement.finished_at
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": EVENT_DETAIL_TYPE,
            "source": EVENT_SOURCE,
            "account": LOCAL_ACCOUNT,
            "time": finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": LOCAL_REGION,
            "resources": [_resource_arn(request)],
            "detail": {
                "principal": _principal(request),
                "statementName": request.get("StatementName", ""),
                "statementId": statement.id,
                "redshiftQueryId": query_id,
                "state": statement.status,
                "rows": rows,
                "expireAt": _epoch(finished_at) + int(self._result_ttl),
            },
        }

    def _respond(
        self, operation: str, body: dict[str, Any], *, validated_records: int | None = None
    ) -> dict[str, Any]:
        checked = body
        if validated_records is not None and "Records" in body:
            checked = {**body, "Records": body["Records"][:validated_records]}
        service_model.validate_response(operation, checked)
        body["ResponseMetadata"] = {
            "RequestId": str(uuid.uuid4()),
            "HTTPStatusCode": 200,
            "HTTPHeaders": {"content-type": "application/x-amz-json-1.1"},
            "RetryAttempts": 0,
        }
        return body


class StatementResultPaginator:
    """Follows NextToken across GetStatementResult pages, as boto3's paginator does."""

    def __init__(self, client: LocalDataApiClient) -> None:
        self._client = client

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        request = {key: value for key, value in kwargs.items() if key != "PaginationConfig"}
        while True:
            page = self._client.get_statement_result(**request)
            yield page
            if "NextToken" not in page:
                return
            request["NextToken"] = page["NextToken"]


# Module helpers -------------------------------------------------------------------------------


def _error(code: str, message: str, operation: str, **fields: str) -> ClientError:
    """A ClientError as boto3 raises it, modelled fields (ResourceId, StatementId) included."""
    status = service_model.http_status(code)
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status},
        "Message": message,
        **fields,
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


def _not_found(operation: str, statement_id: str) -> ClientError:
    message = f"Query does not exist: {statement_id}"
    return _error("ResourceNotFoundException", message, operation, ResourceId=statement_id)


def _check_target(operation: str, request: dict[str, Any]) -> None:
    cluster, workgroup = request.get("ClusterIdentifier"), request.get("WorkgroupName")
    if cluster and workgroup:
        message = "Specify either ClusterIdentifier or WorkgroupName, not both."
        raise _error("ValidationException", message, operation)
    if not request.get("Database"):
        raise _error("ValidationException", "Database is required.", operation)
    if cluster and not (request.get("SecretArn") or request.get("DbUser")):
        message = "A cluster needs either SecretArn or DbUser."
        raise _error("ValidationException", message, operation)
    if not (cluster or workgroup):
        message = "Either ClusterIdentifier or WorkgroupName is required."
        raise _error("ValidationException", message, operation)


def _check_sql_sizes(operation: str, sqls: list[Any]) -> None:
    for sql in sqls:
        if len(str(sql).encode()) > MAX_SQL_BYTES:
            message = f"The SQL statement exceeds {MAX_SQL_BYTES} bytes."
            raise _error("ValidationException", message, operation)


def _translate_all(sqls: list[str]) -> list[dialect.Statement | SqlError]:
    translated: list[dialect.Statement | SqlError] = []
    for sql in sqls:
        try:
            translated.append(dialect.translate(sql))
        except SqlError as exc:
            translated.append(exc)
    return translated


def _check_parameters(
    operation: str,
    translated: list[dialect.Statement | SqlError],
    parameters: list[dict[str, str]],
) -> None:
    supplied = [parameter["name"] for parameter in parameters]
    if len(set(supplied)) != len(supplied):
        raise _error("ValidationException", "A parameter name is given twice.", operation)
    if any(isinstance(statement, SqlError) for statement in translated):
        return

    used: set[str] = set()
    for statement in translated:
        if isinstance(statement, TranslatedStatement):
            used |= statement.parameters
    unused = sorted(set(supplied) - used)
    if unused:
        message = f"Parameters not used by the SQL: {', '.join(unused)}"
        raise _error("ValidationException", message, operation)
    missing = sorted(used - set(supplied))
    if missing:
        message = f"The SQL uses parameters that are not given: {', '.join(missing)}"
        raise _error("ValidationException", message, operation)


def _parameters(request: dict[str, Any]) -> dict[str, str]:
    return {parameter["name"]: parameter["value"] for parameter in request.get("Parameters", [])}


def _execute_one(
    cursor: duckdb.DuckDBPyConnection,
    statement: dialect.Statement,
    sub: _SubStatement,
    parameters: dict[str, str],
) -> None:
    if isinstance(statement, LockStatement):
        _check_tables_exist(cursor, statement.tables)
        return

    bound = {name: parameters[name] for name in statement.parameters}
    try:
        cursor.execute(statement.duckdb_sql, dialect.binding(bound))
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise SqlError(_redshift_message(cursor, statement, exc)) from exc

    if statement.has_result_set:
        sub.has_result_set = True
        sub.columns = results.columns(cursor.description or [], statement.labels)
        sub.rows = rows
        sub.result_rows = len(rows)
    else:
        # DuckDB answers DML with one row holding the affected count, and DDL with none.
        sub.result_rows = int(rows[0][0]) if rows and rows[0] and rows[0][0] is not None else 0


def _check_tables_exist(cursor: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> None:
    for name in tables:
        if not _table_exists(cursor, name):
            raise SqlError(f'ERROR: relation "{name}" does not exist')


def _table_exists(cursor: duckdb.DuckDBPyConnection, name: str) -> bool:
    schema, _, table = name.rpartition(".")
    found = cursor.execute(
        "SELECT count(*) FROM ("
        " SELECT schema_name, table_name FROM duckdb_tables()"
        " UNION ALL SELECT schema_name, view_name FROM duckdb_views()"
        ") WHERE lower(table_name) = $table AND ($schema = '' OR lower(schema_name) = $schema)",
        {"table": table, "schema": schema},
    ).fetchone()
    return bool(found and found[0])


def _redshift_message(
    cursor: duckdb.DuckDBPyConnection, statement: TranslatedStatement, exc: duckdb.Error
) -> str:
    """Redshift's wording for a missing relation; DuckDB's first line of text otherwise."""
    if isinstance(exc, duckdb.CatalogException):
        cursor.rollback()
        cursor.begin()
        for name in statement.tables:
            if not _table_exists(cursor, name):
                return f'ERROR: relation "{name}" does not exist'
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"ERROR: {first_line}"


def _injected_outcome(sqls: list[str], injection: _Injection) -> list[_SubStatement]:
    subs = [_SubStatement(sql=sql, status="ABORTED") for sql in sqls]
    subs[-1].status, subs[-1].error = injection.status, injection.error
    return subs


def _abort_others(subs: list[_SubStatement], failed_at: int) -> None:
    for index, sub in enumerate(subs):
        if index != failed_at:
            sub.status = "ABORTED"
            sub.has_result_set, sub.rows, sub.result_rows = False, [], 0


def _result_size(sub: _SubStatement) -> int:
    if sub.result_size is None:
        sub.result_size = sum(
            len(str(value).encode()) for row in sub.rows for value in row if value is not None
        )
    return sub.result_size


def _target(request: dict[str, Any]) -> dict[str, Any]:
    return {key: request[key] for key in _TARGET_KEYS if key in request}


def _fingerprint(operation: str, request: dict[str, Any]) -> str:
    body = {key: value for key, value in request.items() if key != "ClientToken"}
    return json.dumps([operation, body], sort_keys=True, default=str)


def _next_token(statement_id: str, offset: int) -> str:
    raw = json.dumps({"id": statement_id, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _aware(moment: datetime) -> datetime:
    # boto3 parses timestamps into aware datetimes; the clock gives naive UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _epoch(moment: datetime) -> int:
    return int(_aware(moment).timestamp())


def _resource_arn(request: dict[str, Any]) -> str:
    if "WorkgroupName" in request:
        name = request["WorkgroupName"]
        if str(name).startswith("arn:"):
            return str(name)
        return f"arn:aws:redshift-serverless:{LOCAL_REGION}:{LOCAL_ACCOUNT}:workgroup/{name}"
    cluster = request.get("ClusterIdentifier", "local")
    return f"arn:aws:redshift:{LOCAL_REGION}:{LOCAL_ACCOUNT}:cluster:{cluster}"


def _principal(request: dict[str, Any]) -> str:
    user = request.get("DbUser") or "local"
    return f"arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/local-data-api/{user}"
