from datetime import timedelta

import pytest

from domain.outcomes import DeferReason, Deferred, RejectReason
from domain.ports import Deadline, MailerReport
from domain.rendering import AlertRenderer, Sender
from domain.sweep import Sweep, SweepCommand
from tests.fakes import FakeClock, InMemoryAlertSource, InMemoryMailer, alert_row


def _sweep(source, mailer, clock=None):
    clock = clock or FakeClock()
    renderer = AlertRenderer(Sender("alerts@bank.example", "Example Bank"))
    return Sweep(source, mailer, renderer, clock), clock


def test_each_pending_transaction_gets_one_email_and_a_second_sweep_sends_nothing():
    source = InMemoryAlertSource(
        [alert_row(f"txn-{n}", customer_email=f"c{n}@example.com") for n in range(7)]
        + [alert_row("txn-3", customer_email="c3@example.com")]
    )
    mailer = InMemoryMailer()
    sweep, clock = _sweep(source, mailer)

    first = sweep.run(SweepCommand("run-1", batch_size=3), Deadline(clock, None))
    second = sweep.run(SweepCommand("run-2", batch_size=3), Deadline(clock, None))

    assert first.sent == 7
    assert first.batches == 3
    assert sorted(e.alert_key for e in mailer.sent) == sorted(f"txn-{n}" for n in range(7))
    assert second.sent == 0


def test_a_bad_row_is_rejected_with_its_reason_and_the_rest_go_out():
    source = InMemoryAlertSource(
        [
            alert_row("txn-1"),
            alert_row("txn-2", customer_email="not an address"),
            alert_row("txn-3"),
        ]
    )
    mailer = InMemoryMailer()
    sweep, clock = _sweep(source, mailer)

    report = sweep.run(SweepCommand("run-1"), Deadline(clock, None))

    assert report.sent == 2
    assert report.rejected == {RejectReason.INVALID_EMAIL.value: 1}
    assert source.state["txn-2"]["reason"] == "invalid_email"


class _HaltingMailer:
    def __init__(self):
        self.calls = 0

    def send(self, emails, deadline):
        self.calls += 1
        return MailerReport(
            [Deferred(e.alert_key, DeferReason.SENDING_HALTED) for e in emails],
            halt="SendingPausedException",
        )


def test_a_halt_stops_the_run_and_returns_every_claimed_alert_to_the_pool():
    source = InMemoryAlertSource([alert_row(f"txn-{n}") for n in range(10)])
    mailer = _HaltingMailer()
    sweep, clock = _sweep(source, mailer)

    report = sweep.run(SweepCommand("run-1", batch_size=4), Deadline(clock, None))

    assert report.halt == "SendingPausedException"
    assert mailer.calls == 1
    assert {entry["state"] for entry in source.state.values()} == {"pending"}


def test_no_batch_is_claimed_when_the_deadline_leaves_no_room():
    source = InMemoryAlertSource([alert_row("txn-1")])
    mailer = InMemoryMailer()
    sweep, clock = _sweep(source, mailer)

    report = sweep.run(SweepCommand("run-1", reserve_seconds=15), Deadline(clock, 10))

    assert report.batches == 0
    assert mailer.sent == []
    # Not even registered: the first claim, which registers, needs the reserve too.
    assert source.state == {}


def test_claims_carry_the_lease():
    source = InMemoryAlertSource([alert_row("txn-1")])
    seen = []
    original = source.claim

    def spy(claim, now, *, register_new=False):
        seen.append((claim, now))
        return original(claim, now, register_new=register_new)

    source.claim = spy
    sweep, clock = _sweep(source, InMemoryMailer())

    sweep.run(SweepCommand("run-1", lease=timedelta(minutes=7)), Deadline(clock, None))

    claim, now = seen[0]
    assert claim.lease_until - now == timedelta(minutes=7)
    assert claim.token == "run-1:0"


class _BrokenRenderer(AlertRenderer):
    def render(self, alert, now):
        raise RuntimeError("a template that breaks at run time")


def test_a_batch_that_cannot_be_prepared_is_released_not_stranded_for_its_lease():
    source = InMemoryAlertSource([alert_row("txn-1"), alert_row("txn-2")])
    clock = FakeClock()
    sweep = Sweep(source, InMemoryMailer(), _BrokenRenderer(Sender("a@bank.example", "B")), clock)

    with pytest.raises(RuntimeError, match="breaks at run time"):
        sweep.run(SweepCommand("run-1"), Deadline(clock, None))

    assert {entry["state"] for entry in source.state.values()} == {"pending"}
