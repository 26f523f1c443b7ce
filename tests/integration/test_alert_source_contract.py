"""The claim protocol's promises, checked on the in-memory fake and on the real SQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.outcomes import DeferReason, Deferred, Rejected, RejectReason, Sent
from domain.ports import Claim
from tests.fakes import FakeClock, InMemoryAlertSource, alert_row, register
from tests.warehouse import TestWarehouse, model_row


class _Memory:
    def __init__(self, clock: FakeClock) -> None:
        self.source = InMemoryAlertSource()

    def add(self, *ids: str) -> None:
        self.source.add(*(alert_row(i, customer_email=f"{i}@example.com") for i in ids))


class _Redshift:
    def __init__(self, clock: FakeClock) -> None:
        self.warehouse = TestWarehouse(":memory:", clock)
        self.source = self.warehouse.source()

    def add(self, *ids: str) -> None:
        self.warehouse.insert(model_row(i) for i in ids)


@pytest.fixture(params=[_Memory, _Redshift], ids=["in-memory", "redshift-sql"])
def subject(request):
    clock = FakeClock()
    return request.param(clock), clock


def _claim(clock: FakeClock, token: str, limit: int = 10, lease: float = 900) -> Claim:
    return Claim(token, limit, clock.now() + timedelta(seconds=lease))


def test_two_claims_never_share_an_alert(subject):
    store, clock = subject
    store.add("t1", "t2", "t3")
    register(store.source, clock.now())

    first = store.source.claim(_claim(clock, "a", limit=2), clock.now())
    second = store.source.claim(_claim(clock, "b", limit=2), clock.now())

    keys_a = {row.alert_key for row in first}
    keys_b = {row.alert_key for row in second}
    assert len(keys_a) == 2
    assert len(keys_b) == 1
    assert not keys_a & keys_b


def test_sent_alerts_are_never_claimed_again(subject):
    store, clock = subject
    store.add("t1", "t2")
    register(store.source, clock.now())
    claim = _claim(clock, "a")
    rows = store.source.claim(claim, clock.now())

    store.source.record(
        claim, [Sent(row.alert_key, f"m-{row.alert_key}") for row in rows], clock.now()
    )
    register(store.source, clock.now())

    assert store.source.claim(_claim(clock, "b"), clock.now()) == []


def test_an_expired_claim_returns_to_the_pool_and_a_live_one_does_not(subject):
    store, clock = subject
    store.add("t1")
    register(store.source, clock.now())
    store.source.claim(_claim(clock, "a", lease=60), clock.now())

    assert store.source.claim(_claim(clock, "b"), clock.now()) == []
    clock.advance(61)
    again = store.source.claim(_claim(clock, "c"), clock.now())

    assert [row.alert_key for row in again] == ["t1"]


def test_deferred_alerts_come_back_and_rejected_ones_do_not(subject):
    store, clock = subject
    store.add("t1", "t2")
    register(store.source, clock.now())
    claim = _claim(clock, "a")
    store.source.claim(claim, clock.now())

    store.source.record(
        claim,
        [
            Deferred("t1", DeferReason.THROTTLED),
            Rejected("t2", RejectReason.INVALID_EMAIL, "detail"),
        ],
        clock.now(),
    )
    again = store.source.claim(_claim(clock, "b"), clock.now())

    assert [row.alert_key for row in again] == ["t1"]


def test_a_late_record_from_a_lost_claim_does_not_undo_the_new_owner(subject):
    store, clock = subject
    store.add("t1")
    register(store.source, clock.now())
    old = _claim(clock, "old", lease=60)
    store.source.claim(old, clock.now())
    clock.advance(61)
    new = _claim(clock, "new")
    store.source.claim(new, clock.now())

    store.source.record(old, [Deferred("t1", DeferReason.DEADLINE)], clock.now())

    assert store.source.claim(_claim(clock, "third"), clock.now()) == []


def test_a_transaction_scored_twice_is_one_alert(subject):
    store, clock = subject
    store.add("t1", "t1", "t2")

    register(store.source, clock.now())
    rows = store.source.claim(_claim(clock, "a"), clock.now())

    assert sorted(row.alert_key for row in rows) == ["t1", "t2"]


def test_recording_the_same_outcomes_twice_is_harmless(subject):
    store, clock = subject
    store.add("t1")
    register(store.source, clock.now())
    claim = _claim(clock, "a")
    store.source.claim(claim, clock.now())

    store.source.record(claim, [Sent("t1", "m-1")], clock.now())
    store.source.record(claim, [Sent("t1", "m-1")], clock.now())

    status = store.source.status(clock.now(), 5)
    assert (status.sent, status.pending, status.claimed) == (1, 0, 0)
