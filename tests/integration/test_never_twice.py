"""Regular tests for what the delivery state machine found, plus the protocol's measured window.

Each bug test names the fixed kind of bug; it fails on the code before the fix.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from datetime import timedelta
from typing import Any

import pytest

from adapters.redshift.data_api import StatementFailedError
from domain.outcomes import DeferReason, Deferred, Delivery, Sent
from domain.ports import Claim, Clock, Deadline, MailerReport, OutboundEmail
from domain.rendering import AlertRenderer, Sender
from domain.sweep import Sweep, SweepCommand, single_ledger_thread
from tests.fakes import FakeClock, register
from tests.warehouse import TestWarehouse, model_row


def RECORD(sqls: list[str]) -> bool:
    return any("batch_outcome" in sql for sql in sqls)


SERIALISATION = (
    "ERROR: 1023 DETAIL: Serializable isolation violation on table - 100, transactions forming"
    " the cycle are: 1, 2"
)


class SimulatedCrash(BaseException):
    """The process died; nothing in our code catches it."""


class TimedMailer:
    """Accepts every email, taking `seconds_each` of clock time, within the deadline it is given.

    `crash_after` makes the process die right after that many acceptances. `on_accept` sees the
    running total of acceptances (used to measure the window).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        seconds_each: float = 0.0,
        crash_after: int | None = None,
        on_accept: Callable[[int], None] | None = None,
    ) -> None:
        self.clock = clock
        self.sent: list[str] = []
        self._seconds_each = seconds_each
        self._crash_after = crash_after
        self._on_accept = on_accept

    def send(self, emails: Sequence[OutboundEmail], deadline: Deadline) -> MailerReport:
        deliveries: list[Delivery] = []
        for email in emails:
            if not deadline.allows(self._seconds_each + 0.5):
                deliveries.append(Deferred(email.alert_key, DeferReason.DEADLINE))
                continue
            self.clock.sleep(self._seconds_each)
            self.sent.append(email.alert_key)
            deliveries.append(Sent(email.alert_key, f"ses-{len(self.sent)}"))
            if self._on_accept is not None:
                self._on_accept(len(self.sent))
            if self._crash_after is not None and len(self.sent) >= self._crash_after:
                raise SimulatedCrash
        return MailerReport(deliveries)


class LazyLedger(Executor):
    """The slowest legal ledger: a task runs, in order, only when someone waits for it."""

    def __init__(self) -> None:
        self._queue: deque[tuple[Future[Any], Callable[[], Any]]] = deque()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = _LazyFuture(self)
        self._queue.append((future, lambda: fn(*args, **kwargs)))
        return future

    def run_until(self, target: Future[Any]) -> None:
        while not target.done():
            future, call = self._queue.popleft()
            try:
                future.set_result(call())
            except Exception as exc:
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        while self._queue:
            self.run_until(self._queue[-1][0])


class _LazyFuture(Future[Any]):
    def __init__(self, ledger: LazyLedger) -> None:
        super().__init__()
        self._ledger = ledger

    def result(self, timeout: float | None = None) -> Any:
        self._ledger.run_until(self)
        return super().result(timeout)


def _warehouse(*ids: str) -> TestWarehouse:
    warehouse = TestWarehouse(":memory:", FakeClock())
    warehouse.insert(model_row(i) for i in ids)
    return warehouse


def _sweep(
    warehouse: TestWarehouse,
    mailer: TimedMailer,
    deadline: Deadline | None = None,
    ledger: Callable[[], Executor] = single_ledger_thread,
) -> Sweep:
    source = warehouse.source(deadline=deadline)
    renderer = AlertRenderer(Sender("alerts@bank.example", "Example Bank"))
    return Sweep(source, mailer, renderer, warehouse.clock, ledger=ledger)


# Bug kind 1: claim tokens shared by two runs with the same run id ----------------------------


def test_a_retried_invocation_with_the_same_run_id_does_not_resend_the_dead_attempts_batch() -> (
    None
):
    # Given: an attempt that sent t1 and died before its commit; Lambda retries with the same
    # event and the same request id, so the retry's run id (and sequence) are the same.
    warehouse = _warehouse("t1", "t2")
    command = SweepCommand("ev-1.req-1", batch_size=1)
    dead = TimedMailer(warehouse.clock, crash_after=1)
    with pytest.raises(SimulatedCrash):
        _sweep(warehouse, dead).run(command, Deadline(warehouse.clock, None))

    # When
    retry = TimedMailer(warehouse.clock)
    _sweep(warehouse, retry).run(command, Deadline(warehouse.clock, None))

    # Then: t1 stays with the dead attempt until its lease ends; nothing is emailed twice.
    assert dead.sent == ["t1"]
    assert retry.sent == ["t2"]
    assert warehouse.delivery()["t1"]["state"] == "claimed"


# Bug kind 2: email_sent left FALSE on a row the model wrote after the send -------------------


def test_a_transaction_scored_again_after_its_email_is_flagged_sent_and_not_emailed_again() -> None:
    warehouse = _warehouse("t1")
    mailer = TimedMailer(warehouse.clock)
    _sweep(warehouse, mailer).run(SweepCommand("run-1"), Deadline(warehouse.clock, None))

    warehouse.insert([model_row("t1", customer_email="t1-new@example.com")])
    _sweep(warehouse, mailer).run(SweepCommand("run-2"), Deadline(warehouse.clock, None))

    assert mailer.sent == ["t1"]
    assert warehouse.email_sent() == {"t1": True}


# Bug kind 3: warehouse writes started or left without time to finish before the deadline -----


def test_a_run_started_too_close_to_its_deadline_ends_cleanly_without_writing() -> None:
    warehouse = _warehouse("t1")
    deadline = Deadline(warehouse.clock, 1.0)
    mailer = TimedMailer(warehouse.clock)

    report = _sweep(warehouse, mailer, deadline).run(SweepCommand("run-1"), deadline)

    assert report.stopped_for_deadline
    assert mailer.sent == []
    assert warehouse.delivery() == {}


def test_the_mailer_stops_in_time_for_the_batch_to_be_committed() -> None:
    # 19 s left, 3 s per email. Before the fix the mailer sent six, until 1 s was left, and the
    # commit, cancelled at the deadline, raised StatementTimeoutError with six sends unrecorded.
    warehouse = _warehouse(*(f"t{n}" for n in range(10)))
    deadline = Deadline(warehouse.clock, 19.0)
    mailer = TimedMailer(warehouse.clock, seconds_each=3.0)

    report = _sweep(warehouse, mailer, deadline).run(SweepCommand("run-1", batch_size=10), deadline)

    delivery = warehouse.delivery()
    assert mailer.sent == ["t0", "t1", "t2", "t3"]
    assert report.sent == 4
    assert report.stopped_for_deadline
    assert {key for key, row in delivery.items() if row["state"] == "sent"} == set(mailer.sent)
    assert {row["state"] for key, row in delivery.items() if key not in mailer.sent} == {"pending"}


def test_nothing_is_sent_under_a_claim_whose_lease_has_run_out() -> None:
    # A 60 s lease and 20 s per email: the third email would go out after 60 s, when another
    # run may already have claimed (and sent) it.
    warehouse = _warehouse("t0", "t1", "t2", "t3")
    mailer = TimedMailer(warehouse.clock, seconds_each=20.0)
    command = SweepCommand("run-1", batch_size=4, lease=timedelta(seconds=60))

    _sweep(warehouse, mailer).run(command, Deadline(warehouse.clock, None))

    delivery = warehouse.delivery()
    assert mailer.sent == ["t0", "t1"]
    assert [delivery[k]["state"] for k in ("t0", "t1", "t2", "t3")] == [
        "sent",
        "sent",
        "pending",
        "pending",
    ]
    assert delivery["t2"]["reason"] == DeferReason.DEADLINE.value


# Bug kind 4: a failed commit also losing the next batch's sends ------------------------------


def test_a_commit_that_finally_fails_does_not_lose_the_next_batchs_sends() -> None:
    # t0's commit fails all five attempts. Before the fix the run raised before queueing t1's
    # commit, so t1 (already emailed) was left claimed too and emailed again after the lease.
    warehouse = _warehouse("t0", "t1", "t2")
    warehouse.client.inject_failure(RECORD, SERIALISATION, times=5)
    mailer = TimedMailer(warehouse.clock)

    with pytest.raises(StatementFailedError):
        _sweep(warehouse, mailer).run(
            SweepCommand("run-1", batch_size=1), Deadline(warehouse.clock, None)
        )

    delivery = warehouse.delivery()
    assert mailer.sent == ["t0", "t1"]
    assert delivery["t0"]["state"] == "claimed"
    assert delivery["t1"]["state"] == "sent"
    assert delivery["t1"]["message_id"] == "ses-2"
    assert delivery["t2"]["state"] == "pending"


# The protocol's promises, end to end ---------------------------------------------------------


def test_a_commit_that_fails_twice_is_retried_and_nothing_is_emailed_again() -> None:
    warehouse = _warehouse("t0", "t1", "t2")
    warehouse.client.inject_failure(RECORD, SERIALISATION, times=2)
    mailer = TimedMailer(warehouse.clock)

    _sweep(warehouse, mailer).run(
        SweepCommand("run-1", batch_size=2), Deadline(warehouse.clock, None)
    )
    warehouse.clock.sleep(3600)
    _sweep(warehouse, mailer).run(
        SweepCommand("run-2", batch_size=2), Deadline(warehouse.clock, None)
    )

    assert sorted(mailer.sent) == ["t0", "t1", "t2"]
    assert {row["state"] for row in warehouse.delivery().values()} == {"sent"}


def test_status_counts_alerts_deferred_more_than_the_limit() -> None:
    warehouse = _warehouse("t0", "t1")
    source = warehouse.source()
    register(source, warehouse.clock.now())
    for attempt in range(6):
        claim = _claim(warehouse, f"run-{attempt}:0", limit=1)
        source.claim(claim, warehouse.clock.now())
        source.record(claim, [Deferred("t0", DeferReason.THROTTLED)], warehouse.clock.now())

    status = source.status(warehouse.clock.now(), max_deferrals=5)

    assert warehouse.delivery()["t0"]["deferrals"] == 6
    assert status.deferred_too_often == 1
    assert status.pending == 2


def _claim(warehouse: TestWarehouse, token: str, limit: int) -> Claim:
    return Claim(token, limit, warehouse.clock.now() + timedelta(minutes=15))


@pytest.mark.parametrize(("ledger", "window"), [(LazyLedger, 2 * 3), (single_ledger_thread, None)])
def test_at_most_two_batches_are_emailed_but_uncommitted_at_any_moment(
    ledger: Callable[[], Executor], window: int | None
) -> None:
    # The window is measured at each acceptance: emails accepted minus sends committed.
    batch = 3
    warehouse = _warehouse(*(f"t{n:02}" for n in range(12)))
    widest: list[int] = []

    def measure(accepted: int) -> None:
        committed = sum(1 for row in warehouse.delivery().values() if row["state"] == "sent")
        widest.append(accepted - committed)

    mailer = TimedMailer(warehouse.clock, on_accept=measure)
    _sweep(warehouse, mailer, ledger=ledger).run(
        SweepCommand("run-1", batch_size=batch), Deadline(warehouse.clock, None)
    )

    assert len(mailer.sent) == 12
    assert max(widest) <= 2 * batch
    if window is not None:
        assert max(widest) == window
