"""The sweep: claim pending alerts batch by batch, email them, record each batch's outcomes.

One path for every trigger (the CLI, the scheduled Lambda, the Data API event): the same claims,
the same per-batch commits. While one batch is being sent, the next batch is claimed and
rendered, and the previous batch committed, on a single ledger thread, so warehouse latency and
rendering overlap sending instead of adding to it. One thread keeps the ledger's writes in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from domain.alert import AlertRow
from domain.outcomes import DeferReason, Deferred, Delivery, Rejected, RejectReason, Sent
from domain.ports import (
    AlertSource,
    Claim,
    Clock,
    Deadline,
    Mailer,
    MailerReport,
    OutboundEmail,
)
from domain.rendering import AlertRenderer
from domain.validation import validate_row


@dataclass(frozen=True, slots=True)
class SweepCommand:
    """One run's parameters. `run_id` must be unique per run: claim tokens derive from it."""

    run_id: str
    batch_size: int = 100
    lease: timedelta = timedelta(minutes=15)
    # Stop claiming new batches when less than this is left before the deadline: a batch must
    # have time to be sent and committed, or it is better left pending.
    reserve_seconds: float = 15.0
    # The mailer stops this long before the deadline and before the batch's lease ends, so the
    # batch's outcomes can still be committed while the claim is ours.
    commit_reserve_seconds: float = 5.0


@dataclass(slots=True)
class SweepReport:
    """What one run did, for the CLI's table, the logs and the metrics."""

    run_id: str
    claimed: int = 0
    batches: int = 0
    sent: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    deferred: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    halt: str | None = None
    stopped_for_deadline: bool = False
    duration_seconds: float = 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def deferred_total(self) -> int:
        return sum(self.deferred.values())


LedgerFactory = Callable[[], Executor]


def single_ledger_thread() -> Executor:
    """The production ledger: one worker thread, so the ledger's statements run in order."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="fraud-alerts-ledger")


class Sweep:
    """The use case. Build it once per process; call `run` once per trigger.

    `ledger` builds the executor that runs claims and commits beside the sending; any executor
    that runs its tasks one at a time, in submission order, keeps the protocol's guarantees (the
    property tests use one that runs them at chosen points, to make interleavings reproducible).
    """

    def __init__(
        self,
        source: AlertSource,
        mailer: Mailer,
        renderer: AlertRenderer,
        clock: Clock,
        *,
        ledger: LedgerFactory = single_ledger_thread,
        progress: Callable[[SweepReport], None] | None = None,
    ) -> None:
        self._source = source
        self._mailer = mailer
        self._renderer = renderer
        self._clock = clock
        self._ledger = ledger
        self._progress = progress

    def run(self, command: SweepCommand, deadline: Deadline) -> SweepReport:
        """Send every pending alert this run has time and quota for; leave the rest pending."""
        started = self._clock.monotonic()
        report = SweepReport(run_id=command.run_id)
        if not deadline.allows(command.commit_reserve_seconds):
            # Too late even to register new alerts: a write cut short by the deadline would
            # fail the run.
            report.stopped_for_deadline = True
            return report

        with self._ledger() as ledger:
            self._drain(command, deadline, ledger, report)

        report.duration_seconds = self._clock.monotonic() - started
        return report

    def _drain(
        self,
        command: SweepCommand,
        deadline: Deadline,
        ledger: Executor,
        report: SweepReport,
    ) -> None:
        sequence = 0
        next_claim: Future[_Batch] | None = None
        commit: Future[None] | None = None
        if deadline.allows(command.reserve_seconds):
            next_claim = ledger.submit(self._claim, command, sequence)

        try:
            while next_claim is not None:
                taken, next_claim = next_claim, None
                batch = taken.result()
                claim = batch.claim
                if not batch.rows:
                    break

                sequence += 1
                report.claimed += len(batch.rows)
                if len(batch.rows) == claim.limit and deadline.allows(command.reserve_seconds):
                    next_claim = ledger.submit(self._claim, command, sequence)

                deliveries = self._deliver(
                    batch, self._send_deadline(claim, deadline, command), report
                )
                # Queue this batch's commit before waiting for the previous one: if that one
                # failed, this batch's sends are still recorded before the error surfaces.
                previous, commit = commit, ledger.submit(self._record, claim, deliveries)
                report.batches += 1
                if self._progress is not None:
                    self._progress(report)
                _wait(previous)

                if report.halt is not None or not deadline.allows(command.reserve_seconds):
                    report.stopped_for_deadline = report.halt is None
                    break
        finally:
            try:
                if next_claim is not None:
                    self._release(next_claim, ledger, report)
            finally:
                _wait(commit)

    def _release(
        self,
        taken: Future[_Batch],
        ledger: Executor,
        report: SweepReport,
    ) -> None:
        # A claim taken ahead but never sent goes straight back to the pool.
        batch = taken.result()
        reason = DeferReason.SENDING_HALTED if report.halt else DeferReason.DEADLINE
        if batch.rows:
            deferred = [Deferred(row.alert_key, reason) for row in batch.rows]
            ledger.submit(self._record, batch.claim, deferred)

    def _send_deadline(self, claim: Claim, deadline: Deadline, command: SweepCommand) -> Deadline:
        # Sending must end in time to commit: before the run's deadline, and before the lease
        # ends, after which another run may claim (and send) the same alerts.
        lease_left = (claim.lease_until - self._clock.now()).total_seconds()
        seconds = min(deadline.remaining(), lease_left) - command.commit_reserve_seconds
        # A child of the run's deadline, so cutting the run short also stops this batch.
        return deadline.within(seconds)

    def _claim(self, command: SweepCommand, sequence: int) -> _Batch:
        """Claim a batch and prepare its emails, on the ledger thread: while the main thread
        sends one batch, the next is claimed and rendered, so neither waits on the other."""
        now = self._clock.now()
        claim = Claim(
            token=f"{command.run_id}:{sequence}",
            limit=command.batch_size,
            lease_until=now + command.lease,
        )
        rows = self._source.claim(claim, now, register_new=sequence == 0)

        batch = _Batch(claim, rows)
        try:
            for row in rows:
                prepared = self._prepare(row)
                if isinstance(prepared, Rejected):
                    batch.rejected.append(prepared)
                else:
                    batch.emails.append(prepared)
        except Exception:
            # Nothing of this batch was sent: give it back now rather than strand it for a
            # whole lease, then let the error (a broken template, say) stop the run.
            released = [Deferred(row.alert_key, DeferReason.TRANSIENT_FAILURE) for row in rows]
            self._source.record(claim, released, self._clock.now())
            raise
        return batch

    def _record(self, claim: Claim, deliveries: Sequence[Delivery]) -> None:
        self._source.record(claim, deliveries, self._clock.now())

    def _deliver(self, batch: _Batch, deadline: Deadline, report: SweepReport) -> list[Delivery]:
        deliveries: list[Delivery] = list(batch.rejected)
        emails = batch.emails
        if emails:
            mailed = self._mailer.send(emails, deadline)
            _check_one_delivery_each(emails, mailed)
            deliveries.extend(mailed.deliveries)
            report.throttled += mailed.throttled
            report.halt = report.halt or mailed.halt

        _tally(deliveries, report)
        return deliveries

    def _prepare(self, row: AlertRow) -> OutboundEmail | Rejected:
        checked = validate_row(row)
        if isinstance(checked, Rejected):
            return checked
        try:
            return self._renderer.render(checked, self._clock.now())
        except ValueError as exc:
            # The stdlib refuses a header it cannot write safely; the alert cannot be sent as is.
            return Rejected(row.alert_key, RejectReason.UNRENDERABLE, type(exc).__name__)


@dataclass(slots=True)
class _Batch:
    """A claimed batch, validated and rendered: emails to send and rows already rejected."""

    claim: Claim
    rows: list[AlertRow]
    emails: list[OutboundEmail] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _wait(future: Future[None] | None) -> None:
    if future is not None:
        future.result()


def _tally(deliveries: Sequence[Delivery], report: SweepReport) -> None:
    for delivery in deliveries:
        if isinstance(delivery, Sent):
            report.sent += 1
        elif isinstance(delivery, Rejected):
            report.rejected[delivery.reason.value] += 1
        else:
            report.deferred[delivery.reason.value] += 1


def _check_one_delivery_each(emails: Sequence[OutboundEmail], mailed: MailerReport) -> None:
    # A mailer that loses or invents an outcome would silently lose or double an alert.
    expected = Counter(email.alert_key for email in emails)
    got = Counter(delivery.alert_key for delivery in mailed.deliveries)
    if expected != got:
        raise MailerContractError("the mailer must return exactly one delivery per email")


class MailerContractError(RuntimeError):
    """A mailer broke the port's promise of one delivery per email."""
