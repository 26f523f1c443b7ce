"""Pacing of recipients against a provider's per-second sending rate.

SES counts its rate quota in recipients per second. A token bucket that starts full lets through
its capacity *plus* one second of refill in the first second, which is up to twice the quota;
this limiter instead keeps the start times of the last second and admits a new start only when
that window still has room, so no one-second window ever holds more starts than the current
rate. Starts are also spaced by `1 / rate` so that sends spread over the second instead of
bursting at its beginning.

The rate adapts: a throttling response halves it (at most once per second, so a burst of
throttled in-flight calls counts as one signal), and each accepted send adds back a fixed step
until the ceiling is reached again. The ceiling is the account's quota and is never exceeded.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from domain.ports import Clock

WINDOW_SECONDS = 1.0

# Starts exactly one window apart are admitted a microsecond late, so that float rounding of
# monotonic readings can never put two of them into the same window.
_EPSILON = 1e-6


class RecipientLimiter:
    """A thread-safe, clock-driven limiter of recipients per second with AIMD adaptation.

    All waiting goes through `clock.sleep`, so a fake clock makes tests instantaneous. One
    instance is shared by every worker thread of one mailer.
    """

    def __init__(
        self,
        max_rate: float,
        clock: Clock,
        *,
        decrease_factor: float = 0.5,
        recovery_fraction: float = 0.05,
        min_fraction: float = 0.1,
    ) -> None:
        if max_rate <= 0:
            raise ValueError("max_rate must be positive")
        if not 0 < decrease_factor < 1:
            raise ValueError("decrease_factor must be between 0 and 1")
        self._clock = clock
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self._decrease_factor = decrease_factor
        self._recovery_fraction = recovery_fraction
        self._min_fraction = min_fraction
        self._last_decrease: float | None = None
        self._max_rate = max_rate
        self._rate = max_rate

    @property
    def rate(self) -> float:
        """The rate in force now (recipients per second), at most `max_rate`."""
        with self._lock:
            return self._rate

    @property
    def max_rate(self) -> float:
        with self._lock:
            return self._max_rate

    def set_max_rate(self, max_rate: float) -> None:
        """Adopt a new ceiling (the quota was re-read); the current rate never exceeds it."""
        if max_rate <= 0:
            raise ValueError("max_rate must be positive")
        with self._lock:
            # A limiter that was never slowed follows the new ceiling at once; one that was
            # slowed keeps its rate (capped) and recovers as usual.
            at_ceiling = self._rate >= self._max_rate
            self._max_rate = max_rate
            self._rate = max_rate if at_ceiling else min(self._rate, max_rate)

    def acquire(self, recipients: int = 1, not_after: float | None = None) -> float | None:
        """Wait for room for `recipients` starts; return the start time, or None.

        None means the start could not happen before the monotonic time `not_after`; nothing
        is reserved then and the caller should give up without sending.
        """
        while True:
            with self._lock:
                now = self._clock.monotonic()
                wait = self._wait_needed(now, recipients)
                if wait <= 0:
                    self._starts.extend([now] * recipients)
                    return now
            if not_after is not None and now + wait > not_after:
                return None
            self._clock.sleep(wait)

    def on_throttled(self) -> None:
        """The provider throttled a call: cut the rate multiplicatively, once per second."""
        with self._lock:
            now = self._clock.monotonic()
            if self._last_decrease is not None and now - self._last_decrease < WINDOW_SECONDS:
                return
            self._last_decrease = now
            floor = self._max_rate * self._min_fraction
            self._rate = max(floor, self._rate * self._decrease_factor)

    def on_accepted(self) -> None:
        """The provider accepted a send: recover additively towards the ceiling."""
        with self._lock:
            step = self._max_rate * self._recovery_fraction
            self._rate = min(self._max_rate, self._rate + step)

    def _wait_needed(self, now: float, recipients: int) -> float:
        while self._starts and self._starts[0] <= now - WINDOW_SECONDS - _EPSILON:
            self._starts.popleft()

        capacity = max(1, math.floor(self._rate + 1e-9))
        if recipients > capacity:
            raise ValueError("more recipients than one second of rate allows")

        wait = 0.0
        if self._starts:
            wait = self._starts[-1] + 1.0 / self._rate - now
        overflow = len(self._starts) + recipients - capacity
        if overflow > 0:
            frees_at = self._starts[overflow - 1] + WINDOW_SECONDS + _EPSILON
            wait = max(wait, frees_at - now)
        if wait <= 0:
            return 0.0
        return max(wait, _EPSILON)
