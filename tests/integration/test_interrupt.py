"""Ctrl-C during a sweep: the first stops sending and records everything sent; nothing stranded."""

from __future__ import annotations

import os
import signal

from adapters.mail.outbox import OutboxMailer
from domain.ports import Deadline
from domain.rendering import AlertRenderer, Sender
from domain.sweep import Sweep, SweepCommand
from handlers.cli import _stop_on_interrupt
from tests.fakes import FakeClock
from tests.warehouse import TestWarehouse, model_row


class _InterruptedOutbox(OutboxMailer):
    """An outbox whose owner presses Ctrl-C as the second batch starts."""

    calls = 0

    def send(self, emails, deadline):
        self.calls += 1
        if self.calls == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return super().send(emails, deadline)


def test_a_first_ctrl_c_records_what_was_sent_and_strands_no_claim(tmp_path):
    clock = FakeClock()
    warehouse = TestWarehouse(tmp_path / "w.duckdb", clock)
    warehouse.insert(model_row(f"t{n:02}") for n in range(30))
    mailer = _InterruptedOutbox(tmp_path / "outbox", clock=clock)
    renderer = AlertRenderer(Sender("alerts@bank.example", "Bank"))
    sweep = Sweep(warehouse.source(Deadline(clock, None)), mailer, renderer, clock)

    with _stop_on_interrupt() as interrupt:
        report = sweep.run(SweepCommand("run-1", batch_size=10), interrupt.sending)

    states = [entry["state"] for entry in warehouse.delivery().values()]
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert interrupt.interrupted
    assert report.sent == 10
    assert report.deferred == {"deadline": 10}
    assert "claimed" not in states
    assert states.count("sent") == len(files) == 10
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
