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
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from adapters.redshift.alert_source import DeliveryPolicy
from domain.outcomes import Deferred, DeferReason, Delivery, Rejected, RejectReason, Sent
from domain.ports import Deadline, MailerReport, OutboundEmail
from domain.rendering import AlertRenderer, Sender
from domain.sweep import Sweep, SweepCommand
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


ACTIONS = st.sampled_from(["accept", "accept", "accept", "throttle", "reject", "crash", "slow"])

warehouse_faults = st.none() | st.tuples(
    st.sampled_from(sorted(MATCHERS)),
    st.sampled_from([1, 2, ADAPTER_ATTEMPTS]),
    st.sampled_from([SERIALISATION, FAILED_STATEMENT]),
)


def invocations(nested: bool) -> st.SearchStrategy[Invocation]:
    action = ACTIONS if nested else ACTIONS | st.tuples(st.just("overlap"), invocations(True))
    return st.builds(
        Invocation,
        event=st.sampled_from(["ev-a", "ev-b", "ev-c"]),
        retry=st.booleans(),
        script=st.lists(action, max_size=8).map(tuple),
        deadline_seconds=st.none() | st.sampled_from([1.0, 10.0, 17.0, 25.0, 60.0]),
        warehouse_fault=warehouse_faults,
        eager_ledger=st.booleans(),
    )


CLEAN = Invocation("settle", False, (), None, None, eager_ledger=False)


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
    run_id: str


@dataclass
class Process:
    run_id: str
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
    abnormal_runs: set[str] = field(default_factory=set)
    orphaned: set[str] = field(default_factory=set)
    request_ids: dict[str, str] = field(default_factory=dict)
    message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    clients: list[TestWarehouse] = field(default_factory=list)

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
                if action == "slow":
                    self._world.clock.advance(7.0)
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
        alive = [a.run_id for a in earlier if a.run_id not in world.abnormal_runs]
        if alive:
            raise InvariantBrokenError(f"{key} was emailed again while {alive} still held it")

        message_id = f"ses-{next(world.message_ids)}"
        world.accepted.append(Acceptance(key, message_id, self._process.run_id))
        return Sent(key, message_id)


def run_invocation(world: World, invocation: Invocation) -> None:
    """One trigger of the real use case; its crash or failure is recorded, never hidden."""
    run_id = _run_id(world, invocation)
    process = Process(run_id)
    warehouse = TestWarehouse(world.path, world.clock)
    world.clients.append(warehouse)
    if invocation.warehouse_fault is not None:
        target, times, error = invocation.warehouse_fault
        warehouse.client.inject_failure(MATCHERS[target], error, times=times)

    deadline = Deadline(world.clock, invocation.deadline_seconds)
    sweep = Sweep(
        warehouse.source(deadline=deadline, policy=world.policy),
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
    except (SimulatedCrash, Exception):
        process.dead = True
        _mark_abnormal(world, run_id)
        return
    _check_clean_run(world, run_id)


def _run_id(world: World, invocation: Invocation) -> str:
    # As handlers/runs.py derives it: the event id and Lambda's request id, which Lambda keeps
    # when it retries an asynchronous invocation.
    request = world.request_ids.get(invocation.event)
    if request is None or not invocation.retry:
        request = f"req-{len(world.request_ids)}-{world.clock.monotonic()}"
        world.request_ids[invocation.event] = request
    return f"{invocation.event}.{request}"


def _mark_abnormal(world: World, run_id: str) -> None:
    world.abnormal_runs.add(run_id)
    rows = world.warehouse.client.query_local(
        f"SELECT alert_key FROM {TABLES.delivery} WHERE state = 'claimed'"
        " AND claim_token LIKE :prefix",
        {"prefix": f"{run_id}:%"},
    )
    world.orphaned.update(str(row[0]) for row in rows)


def _check_clean_run(world: World, run_id: str) -> None:
    delivery = world.warehouse.delivery()
    for acceptance in world.accepted:
        if acceptance.run_id == run_id:
            row = delivery[acceptance.key]
            assert row["state"] == "sent", f"{acceptance.key} accepted but left {row['state']}"


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
    def email_sent_flag_matches_the_ledger(self) -> None:
        if self.world is None:
            return
        delivery = self.w.warehouse.delivery()
        for key, flagged in self.w.warehouse.email_sent().items():
            if key is not None:
                assert flagged == (delivery.get(key, {}).get("state") == "sent"), key

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
            assert all(a.run_id in self.w.abnormal_runs for a in earlier), key

    def teardown(self) -> None:
        try:
            if self.world is not None:
                settle_and_check(self.w)
        finally:
            for warehouse in self.world.clients if self.world else []:
                warehouse.client.close()
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


DeliveryMachine.TestCase.settings = settings(
    settings.default,
    max_examples=max(25, settings.default.max_examples // 2),
    stateful_step_count=12 if settings.default.max_examples < 1000 else 40,
)
TestDeliveryStateMachine = DeliveryMachine.TestCase
