"""The recipient limiter: never more starts in one second than the rate, adaptive, thread-safe."""

from __future__ import annotations

import threading
from bisect import bisect_left
from itertools import pairwise

import pytest

from adapters.mail.pacing import RecipientLimiter
from tests.fakes import FakeClock


class LockedClock(FakeClock):
    """A FakeClock whose reads and sleeps are atomic, for limiter calls from many threads."""

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()

    def monotonic(self) -> float:
        with self._guard:
            return super().monotonic()

    def sleep(self, seconds: float) -> None:
        with self._guard:
            super().sleep(seconds)


def busiest_second(starts: list[float]) -> int:
    """The most starts found in any half-open window [t, t + 1 s) beginning at a start."""
    ordered = sorted(starts)
    return max(
        (bisect_left(ordered, start + 1.0) - i for i, start in enumerate(ordered)), default=0
    )


def test_first_second_holds_no_more_than_the_rate() -> None:
    clock = FakeClock()
    limiter = RecipientLimiter(5.0, clock)
    start = clock.monotonic()

    starts = [limiter.acquire() for _ in range(40)]

    assert all(s is not None for s in starts)
    times = [s for s in starts if s is not None]
    assert sum(1 for t in times if t < start + 1.0) <= 5
    assert busiest_second(times) <= 5


def test_starts_are_spread_over_the_second() -> None:
    clock = FakeClock()
    limiter = RecipientLimiter(10.0, clock)

    times = [limiter.acquire() or 0.0 for _ in range(30)]

    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) >= 0.1 - 1e-9
    assert times[-1] - times[0] == pytest.approx(2.9, abs=1e-3)


@pytest.mark.parametrize(("rate", "allowed"), [(2.5, 2), (1.0, 1), (14.0, 14), (0.5, 1)])
def test_fractional_and_slow_rates_never_overfill_a_window(rate: float, allowed: int) -> None:
    clock = FakeClock()
    limiter = RecipientLimiter(rate, clock)

    times = [limiter.acquire() or 0.0 for _ in range(50)]

    assert busiest_second(times) <= allowed


def test_rate_below_one_spaces_starts_by_its_inverse() -> None:
    clock = FakeClock()
    limiter = RecipientLimiter(0.5, clock)

    first = limiter.acquire()
    second = limiter.acquire()

    assert first is not None
    assert second is not None
    assert second - first == pytest.approx(2.0)


def test_acquire_gives_up_without_sleeping_past_not_after() -> None:
    clock = FakeClock()
    limiter = RecipientLimiter(1.0, clock)
    assert limiter.acquire() is not None

    result = limiter.acquire(not_after=clock.monotonic() + 0.5)

    assert result is None
    assert clock.slept == []


def test_throttling_halves_the_rate_once_per_second_down_to_a_floor() -> None:
    clock = FakeClock()
    limiter = RecipientLimiter(100.0, clock)

    limiter.on_throttled()
    limiter.on_throttled()
    assert limiter.rate == pytest.approx(50.0)

    for _ in range(10):
        clock.advance(1.0)
        limiter.on_throttled()
    assert limiter.rate == pytest.approx(10.0)


def test_accepted_sends_recover_additively_up_to_the_ceiling_never_above() -> None:
    clock = FakeClock()
    limiter = RecipientLimiter(20.0, clock)
    limiter.on_throttled()
    assert limiter.rate == pytest.approx(10.0)

    limiter.on_accepted()
    assert limiter.rate == pytest.approx(11.0)

    for _ in range(100):
        limiter.on_accepted()
    assert limiter.rate == pytest.approx(20.0)


def test_a_slowed_limiter_paces_at_its_lower_rate() -> None:
    clock = FakeClock()
    limiter = RecipientLimiter(10.0, clock)
    limiter.on_throttled()

    times = [limiter.acquire() or 0.0 for _ in range(20)]

    assert busiest_second(times) <= 5


def test_new_ceiling_is_followed_when_unslowed_and_caps_when_slowed() -> None:
    clock = FakeClock()
    limiter = RecipientLimiter(1.0, clock)
    limiter.set_max_rate(14.0)
    assert limiter.rate == pytest.approx(14.0)

    limiter.on_throttled()
    limiter.set_max_rate(30.0)
    assert limiter.rate == pytest.approx(7.0)
    assert limiter.max_rate == pytest.approx(30.0)

    limiter.set_max_rate(4.0)
    assert limiter.rate == pytest.approx(4.0)


def test_invalid_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="max_rate"):
        RecipientLimiter(0.0, FakeClock())
    with pytest.raises(ValueError, match="recipients"):
        RecipientLimiter(2.0, FakeClock()).acquire(recipients=3)


def test_threads_sharing_one_limiter_never_overfill_a_window() -> None:
    clock = LockedClock()
    limiter = RecipientLimiter(7.0, clock)
    starts: list[float] = []
    starts_lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            started = limiter.acquire()
            assert started is not None
            with starts_lock:
                starts.append(started)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(starts) == 200
    assert busiest_second(starts) <= 7
