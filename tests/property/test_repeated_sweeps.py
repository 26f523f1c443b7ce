"""For any rows and any number of sweeps with new rows arriving between them: every pending
transaction with a usable address gets exactly one email, every other one a recorded reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.outcomes import RejectReason
from domain.ports import Deadline
from domain.rendering import AlertRenderer, Sender
from domain.sweep import Sweep, SweepCommand
from domain.validation import normalise_address
from tests.fakes import FakeClock, InMemoryMailer
from tests.warehouse import TestWarehouse, model_row

ADDRESSES = st.sampled_from(
    [
        "ok@example.com",
        "  UPPER@EXAMPLE.ORG ",
        "x@bücher.example",
        "jösé@example.com",
        "name at example.com",
        "a@example.com, b@example.com",
        "",
        None,
    ]
)
NAMES = st.one_of(
    st.none(), st.text(max_size=30), st.sampled_from(["이병철", "Arsoy, Jr. (Piran)"])
)


@dataclass(frozen=True)
class Transaction:
    transaction_id: str
    email: str | None
    name: str | None
    already_sent: bool
    scorings: int


@st.composite
def transactions(draw: st.DrawFn, prefix: str) -> list[Transaction]:
    count = draw(st.integers(min_value=0, max_value=8))
    return [
        Transaction(
            transaction_id=f"{prefix}-{n}",
            email=draw(ADDRESSES),
            name=draw(NAMES),
            already_sent=draw(st.booleans()) and draw(st.booleans()),
            scorings=draw(st.integers(min_value=1, max_value=3)),
        )
        for n in range(count)
    ]


@st.composite
def arrivals(draw: st.DrawFn) -> list[list[Transaction]]:
    waves = draw(st.integers(min_value=1, max_value=4))
    return [draw(transactions(f"w{wave}")) for wave in range(waves)]


def _rows(transaction: Transaction) -> list[dict[str, object]]:
    base = datetime(2026, 11, 30, 9, 0, 0)
    return [
        model_row(
            transaction.transaction_id,
            customer_email=transaction.email,
            customer_name=transaction.name,
            email_sent=transaction.already_sent,
            predicted_at=base + timedelta(minutes=scoring),
        )
        for scoring in range(transaction.scorings)
    ]


@given(waves=arrivals(), batch_size=st.integers(min_value=1, max_value=5))
def test_every_pending_transaction_ends_emailed_once_or_rejected_with_a_reason(waves, batch_size):
    clock = FakeClock()
    warehouse = TestWarehouse(":memory:", clock)
    mailer = InMemoryMailer()
    renderer = AlertRenderer(Sender("alerts@bank.example", "Example Bank"))
    sweep = Sweep(warehouse.source(), mailer, renderer, clock)

    for number, wave in enumerate(waves):
        warehouse.insert(row for transaction in wave for row in _rows(transaction))
        sweep.run(SweepCommand(f"run-{number}", batch_size=batch_size), Deadline(clock, None))
        # A second sweep with nothing new must change nothing.
        sweep.run(SweepCommand(f"again-{number}", batch_size=batch_size), Deadline(clock, None))
        clock.advance(60)

    emails = Counter(email.alert_key for email in mailer.sent)
    delivery = warehouse.delivery()
    for transaction in (t for wave in waves for t in wave):
        key = transaction.transaction_id
        if transaction.already_sent:
            assert emails[key] == 0
            assert key not in delivery
        elif isinstance(normalise_address(transaction.email), RejectReason):
            assert emails[key] == 0
            assert delivery[key]["state"] == "rejected"
            assert delivery[key]["reason"]
        else:
            assert emails[key] == 1
            assert delivery[key]["state"] == "sent"
            assert delivery[key]["message_id"]
            assert warehouse.email_sent()[key] is True
