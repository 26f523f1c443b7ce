"""Never lost, never twice: the real sweep and the real SQL, driven through faults by hypothesis.

Each example builds one warehouse file and a world clock. Every invocation is a separate
"process": its own Data API client on the shared file (so its own ClientToken scope), its own
ledger and mailer. Faults are drawn per invocation; "faults stop" means the next invocations
draw none. Overlap is realistic: a mailer may run a whole other invocation before it answers.

The ledger is a deterministic stand-in for the sweep's ledger thread: tasks run in submission
order either at once (a fast warehouse) or only when the sweep waits for them (a slow one, so a
commit is still in flight while the next batch is sent). When the process dies it runs nothing.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from adapters.local_warehouse.data_api import LocalDataApiClient
from adapters.observability import logger
from adapters.redshift.alert_source import DeliveryPolicy, RedshiftDataAlertSource
from adapters.redshift.data_api import StatementRunner
from domain.outcomes import DeferReason, Deferred, Delivery, Rejected, RejectReason, Sent
from domain.ports import Deadline, MailerReport, OutboundEmail
from domain.rendering import AlertRenderer, Sender
from domain.sweep import Sweep, SweepCommand
from handlers.bootstrap import LOCAL_TARGET
from tests.fakes import FakeClock
from tests.warehouse import TABLES, TestWarehouse, model_row

LEASE = timedelta(minutes=16)
TRANSACTIONS = [f"t{n}" for n in range(8)]
SERIALISATION = (
    "ERROR: 1023 DETAIL: Serializable isolation violation on table - 100, transactions forming"
    " the cycle are: 1, 2"
)
FAILED_STATEMENT = "ERROR: could not complete because of conflict with concurrent transaction"
ADAPTER_ATTEMPTS = 5

MATCHERS: dict[str, Callable[[list[str]], bool]] = {
    "enqueue": lambda sqls: any(f"INSERT INTO {TABLES.delivery}" in sql for sql in sqls),
    "claim": lambda sqls: any("SET state = 'claimed'" in sql for sql in sqls),
    "record": lambda sqls: any("batch_outcome" in sql for sql in sqls),
}


class SimulatedCrash(BaseException):
    """The process died: nothing in our code may catch it, nothing after it runs."""


class InvariantBrokenError(AssertionError):
    """Raised from inside a run (a mailer call) so that no run helper mistakes it for a fault."""


# What a test invocation is made of ----------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """One trigger: which event, whether it is Lambda's retry, and the faults it meets."""

    event: str
    retry: bool
    script: tuple[Any, ...]
    deadline_seconds: float | None
    warehouse_fault: tuple[str, int, str] | None
    eager_ledger: bool


# "slow": seconds pass while sending; "stall": a send held up for a quarter of the lease. Like a
# real mailer, the scripted one never lets time run past the deadline it was given.
ACTIONS = st.sampled_from(["accept", "throttle", "reject", "crash", "slow", "stall"])
STALL_SECONDS = LEASE.total_seconds() / 4

warehouse_faults = st.none() | st.tuples(
    st.sampled_from(sorted(MATCHERS)),
    st.sampled_from([1, 2, ADAPTER_ATTEMPTS]),
    st.sampled_from([SERIALISATION, FAILED_STATEMENT]),
)


def invocations(nested: bool) -> st.SearchStrategy[Invocation]:
    """An overlapping run happens inside another's mailer call and takes no time of its own."""
    if nested:
        return st.builds(
            Invocation,
            event=st.sampled_from(["ev-a", "ev-b"]),
            retry=st.booleans(),
            script=st.lists(
                st.sampled_from(["accept", "throttle", "reject", "crash"]), max_size=4
            ).map(tuple),
            deadline_seconds=st.none(),
            warehouse_fault=st.none(),
            eager_ledger=st.booleans(),
        )
    action = ACTIONS | st.tuples(st.just("overlap"), invocations(True))
    return st.builds(
        Invocation,
        event=st.sampled_from(["ev-a", "ev-b"]),
        retry=st.booleans(),
        script=st.lists(action, max_size=5).map(tuple),
        deadline_seconds=st.none() | st.sampled_from([1.0, 17.0, 25.0, 60.0]),
        warehouse_fault=warehouse_faults,
        eager_ledger=st.booleans(),
    )


CLEAN = Invocation("settle", False, (), None, None, eager_ledger=False)


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    # Thousands of statements per run: their info logs would cost more than the SQL.
    level = logger.log_level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


# The ledger ------------------------------------------------------------------------------------


class _Task(Future[Any]):
    def __init__(self, ledger: StepLedger, call: Callable[[], Any]) -> None:
        super().__init__()
        self.ledger = ledger
        self.call = call

    def result(self, timeout: float | None = None) -> Any:
        self.ledger.run_until(self)
        return super().result(timeout)


class StepLedger(Executor):
    """Runs tasks in order, on the caller's thread: eagerly, or when someone waits for them."""

    def __init__(self, process: Process, *, eager: bool) -> None:
        self._process = process
        self._eager = eager
        self._queue: deque[_Task] = deque()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self._process.check_alive()
        task = _Task(self, lambda: fn(*args, **kwargs))
        self._queue.append(task)
        if self._eager:
            self.run_until(task)
        return task

    def run_until(self, task: _Task) -> None:
        while not task.done():
            self._process.check_alive()
            head = self._queue.popleft()
            try:
                head.set_result(head.call())
            except Exception as exc:  # the task's own failure, handed to whoever waits
                head.set_exception(exc)
        self._process.check_alive()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._process.dead:
            return
        while self._queue:
            self.run_until(self._queue[-1])


# The world ------------------------------------------------------------------------------------


@dataclass
class Acceptance:
    key: str
    message_id: str
    process: int


@dataclass
class Process:
    """One invocation's process: a retry may share its run id, never its serial."""

    run_id: str
    serial: int
    dead: bool = False

    def check_alive(self) -> None:
        if self.dead:
            raise SimulatedCrash(self.run_id)


@dataclass
class World:
    path: Path
    clock: FakeClock
    policy: DeliveryPolicy
    batch_size: int
    warehouse: TestWarehouse
    accepted: list[Acceptance] = field(default_factory=list)
    abnormal: set[int] = field(default_factory=set)
    orphaned: set[str] = field(default_factory=set)
    request_ids: dict[str, str] = field(default_factory=dict)
    message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    serials: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    clients: list[LocalDataApiClient] = field(default_factory=list)

    def state_of(self, key: str) -> str | None:
        rows = self.warehouse.client.query_local(
            f"SELECT state FROM {TABLES.delivery} WHERE alert_key = :key", {"key": key}
        )
        return str(rows[0][0]) if rows else None


class ScriptedMailer:
    """Answers each email as its script says; every acceptance goes to the world's ground truth."""

    def __init__(self, world: World, process: Process, script: Sequence[Any]) -> None:
        self._world = world
        self._process = process
        self._script = deque(script)

    def send(self, emails: Sequence[OutboundEmail], deadline: Deadline) -> MailerReport:
        deliveries: list[Delivery] = []
        throttled = 0
        for email in emails:
            action = self._script.popleft() if self._script else "accept"
            if isinstance(action, tuple):
                run_invocation(self._world, action[1])
                action = "accept"
            if not deadline.allows(0.5):
                deliveries.append(Deferred(email.alert_key, DeferReason.DEADLINE))
            elif action == "throttle":
                throttled += 1
                deliveries.append(Deferred(email.alert_key, DeferReason.THROTTLED, "Throttling"))
            elif action == "reject":
                deliveries.append(
                    Rejected(email.alert_key, RejectReason.MAILER_REJECTED, "MessageRejected")
                )
            else:
                if action in ("slow", "stall"):
                    wanted = 7.0 if action == "slow" else STALL_SECONDS
                    self._world.clock.advance(min(wanted, deadline.remaining() - 0.5))
                deliveries.append(self._accept(email))
                if action == "crash":
                    self._process.dead = True
                    raise SimulatedCrash(self._process.run_id)
        return MailerReport(deliveries, throttled=throttled)

    def _accept(self, email: OutboundEmail) -> Sent:
        world, key = self._world, email.alert_key
        earlier = [a for a in world.accepted if a.key == key]
        if world.state_of(key) == "sent":
            raise InvariantBrokenError(f"{key} was emailed again after its send was committed")
        if earlier and world.policy is DeliveryPolicy.AT_MOST_ONCE:
            raise InvariantBrokenError(f"{key} was emailed twice under at-most-once")
        alive = [a.process for a in earlier if a.process not in world.abnormal]
        if alive:
            raise InvariantBrokenError(f"{key} was emailed again while {alive} still held it")

        message_id = f"ses-{next(world.message_ids)}"
        world.accepted.append(Acceptance(key, message_id, self._process.serial))
        return Sent(key, message_id)


def run_invocation(world: World, invocation: Invocation) -> None:
    """One trigger of the real use case; its crash or failure is recorded, never hidden."""
    run_id = _run_id(world, invocation)
    process = Process(run_id, next(world.serials))
    client: Any = LocalDataApiClient(world.path, clock=world.clock)
    world.clients.append(client)
    if invocation.warehouse_fault is not None:
        target, times, error = invocation.warehouse_fault
        client.inject_failure(MATCHERS[target], error, times=times)

    deadline = Deadline(world.clock, invocation.deadline_seconds)
    source = RedshiftDataAlertSource(
        StatementRunner(client, LOCAL_TARGET, world.clock, wait_seconds=0),
        TABLES,
        deadline=deadline,
        policy=world.policy,
        clock=world.clock,
    )
    sweep = Sweep(
        source,
        ScriptedMailer(world, process, invocation.script),
        AlertRenderer(Sender("alerts@bank.example", "Example Bank")),
        world.clock,
        ledger=lambda: StepLedger(process, eager=invocation.eager_ledger),
    )
    command = SweepCommand(run_id, batch_size=world.batch_size, lease=LEASE)
    try:
        sweep.run(command, deadline)
    except InvariantBrokenError:
        raise
    except SimulatedCrash:
        _mark_abnormal(world, process)
        return
    except Exception as exc:
        process.dead = True
        _mark_abnormal(world, process)
        if invocation.warehouse_fault is None:
            raise InvariantBrokenError(f"a run without a warehouse fault failed: {exc!r}") from exc
        return
    _check_clean_run(world, process)


def _run_id(world: World, invocation: Invocation) -> str:
    # As handlers/runs.py derives it: the event id and Lambda's request id, which Lambda keeps
    # when it retries an asynchronous invocation.
    request = world.request_ids.get(invocation.event)
    if request is None or not invocation.retry:
        request = f"req-{len(world.request_ids)}-{world.clock.monotonic()}"
        world.request_ids[invocation.event] = request
    return f"{invocation.event}.{request}"


def _mark_abnormal(world: World, process: Process) -> None:
    world.abnormal.add(process.serial)
    rows = world.warehouse.client.query_local(
        f"SELECT alert_key FROM {TABLES.delivery} WHERE state = 'claimed'"
        " AND claim_token LIKE :prefix",
        {"prefix": f"{process.run_id}:%"},
    )
    world.orphaned.update(str(row[0]) for row in rows)


def _check_clean_run(world: World, process: Process) -> None:
    delivery = world.warehouse.delivery()
    for acceptance in world.accepted:
        state = delivery[acceptance.key]["state"]
        if acceptance.process == process.serial and state != "sent":
            raise InvariantBrokenError(f"{acceptance.key} accepted by a clean run but left {state}")


# The machine ----------------------------------------------------------------------------------


class DeliveryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="fraud-alerts-sm-"))
        self.world: World | None = None

    @initialize(
        policy=st.sampled_from(list(DeliveryPolicy)),
        batch_size=st.integers(min_value=1, max_value=4),
    )
    def start(self, policy: DeliveryPolicy, batch_size: int) -> None:
        clock = FakeClock()
        path = self.tmp / "w.duckdb"
        self.world = World(path, clock, policy, batch_size, TestWarehouse(path, clock))

    @property
    def w(self) -> World:
        assert self.world is not None
        return self.world

    @rule(
        ids=st.lists(st.sampled_from([*TRANSACTIONS, None]), min_size=1, max_size=4),
        bad_email=st.booleans(),
    )
    def model_scores(self, ids: list[str | None], bad_email: bool) -> None:
        rows = []
        for n, transaction_id in enumerate(ids):
            overrides: dict[str, Any] = {"customer_id": f"c{self.w.clock.monotonic()}-{n}"}
            if bad_email and n == 0:
                overrides["customer_email"] = "not an address"
            rows.append(model_row(transaction_id, **overrides))
        self.w.warehouse.insert(rows)

    @rule(invocation=invocations(nested=False))
    def invoke(self, invocation: Invocation) -> None:
        run_invocation(self.w, invocation)

    @rule(seconds=st.sampled_from([1.0, 30.0, LEASE.total_seconds() + 1]))
    def time_passes(self, seconds: float) -> None:
        self.w.clock.advance(seconds)

    @rule()
    def faults_stop(self) -> None:
        settle_and_check(self.w)

    @invariant()
    def sent_means_a_real_message_id(self) -> None:
        if self.world is None:
            return
        ids = {(a.key, a.message_id) for a in self.w.accepted}
        for key, row in self.w.warehouse.delivery().items():
            if row["state"] == "sent":
                assert (key, row["message_id"]) in ids, f"{key} marked sent without a message id"

    @invariant()
    def email_sent_only_for_sent_alerts(self) -> None:
        if self.world is None:
            return
        delivery = self.w.warehouse.delivery()
        flagged = self.w.warehouse.client.query_local(
            f"SELECT DISTINCT transaction_id FROM {TABLES.alerts} WHERE email_sent"
        )
        for (key,) in flagged:
            assert delivery[key]["state"] == "sent", f"{key} flagged email_sent but not sent"

    @invariant()
    def duplicates_only_after_a_crash(self) -> None:
        if self.world is None:
            return
        counts = Counter(a.key for a in self.w.accepted)
        for key, times in counts.items():
            if times < 2:
                continue
            assert self.w.policy is DeliveryPolicy.AT_LEAST_ONCE, f"{key} emailed {times} times"
            earlier = [a for a in self.w.accepted if a.key == key][:-1]
            assert all(a.process in self.w.abnormal for a in earlier), key

    def teardown(self) -> None:
        try:
            if self.world is not None:
                settle_and_check(self.w)
        finally:
            for client in self.world.clients if self.world else []:
                client.close()
            if self.world is not None:
                self.world.warehouse.client.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


def settle_and_check(world: World) -> None:
    """Faults stop: clean invocations until nothing is pending; then nothing is lost or stuck."""
    for _ in range(12):
        world.clock.advance(LEASE.total_seconds() + 1)
        run_invocation(world, CLEAN)
        states = {row["state"] for row in world.warehouse.delivery().values()}
        if not states & {"pending", "claimed"}:
            break

    delivery = world.warehouse.delivery()
    transactions = {
        str(row[0])
        for row in world.warehouse.client.query_local(
            f"SELECT DISTINCT transaction_id FROM {TABLES.alerts}"
            " WHERE NULLIF(TRIM(transaction_id), '') IS NOT NULL"
        )
    }
    assert transactions <= delivery.keys(), f"never enqueued: {transactions - delivery.keys()}"
    for key, row in delivery.items():
        if row["state"] == "unknown":
            assert world.policy is DeliveryPolicy.AT_MOST_ONCE, key
            assert key in world.orphaned, f"{key} parked unknown but no dead run held it"
            continue
        assert row["state"] in ("sent", "rejected"), f"{key} stuck in {row['state']}"
        if row["state"] == "rejected":
            assert row["reason"], f"{key} rejected without a reason"

    # Every row of a sent transaction says so, even a row the model wrote after the send.
    for key, flagged in world.warehouse.email_sent().items():
        if key is not None and key.strip():
            assert flagged == (delivery[key]["state"] == "sent"), f"{key} email_sent is {flagged}"


# The profile tests/conftest.py loaded: "ci" by default, "thorough" through
# FRAUD_ALERTS_HYPOTHESIS_PROFILE. Each example is a whole history of runs, so the counts are
# smaller than the profile's; the CI budget keeps this file under a minute on two cores.
_PROFILE = settings()
_THOROUGH = _PROFILE.max_examples >= 1000

DeliveryMachine.TestCase.settings = settings(
    _PROFILE,
    max_examples=300 if _THOROUGH else 40,
    stateful_step_count=30 if _THOROUGH else 15,
)
TestDeliveryStateMachine = DeliveryMachine.TestCase
