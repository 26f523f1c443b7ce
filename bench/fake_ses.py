"""A fake `sesv2` client with SES's latency and its rate quota, on the real clock."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import deque
from typing import Any

from botocore.exceptions import ClientError

WINDOW_SECONDS = 1.0
DAILY_QUOTA = 1_000_000.0


class FakeSes:
    """`send_email` sleeps a latency drawn from a seeded RNG and answers with a MessageId.

    The quota is enforced the strict way: a call that finds `max_send_rate` accepted calls
    started in the trailing second is refused with `TooManyRequestsException` (HTTP 429), as
    SESv2 refuses a send over the account's MaxSendRate. `accepted_at` keeps the monotonic time
    of every accepted send, so a benchmark can measure the achieved rate.
    """

    def __init__(
        self,
        max_send_rate: float,
        *,
        latency_seconds: float = 0.05,
        jitter_seconds: float = 0.02,
        seed: int = 8,
    ) -> None:
        self.max_send_rate = max_send_rate
        self._latency = latency_seconds
        self._jitter = jitter_seconds
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self.accepted_at: list[float] = []
        self.throttled = 0
        self.get_account_calls = 0

    def get_account(self) -> dict[str, Any]:
        with self._lock:
            self.get_account_calls += 1
        return {
            "SendQuota": {
                "Max24HourSend": DAILY_QUOTA,
                "MaxSendRate": self.max_send_rate,
                "SentLast24Hours": 0.0,
            },
            "SendingEnabled": True,
            "ProductionAccessEnabled": True,
        }

    def send_email(self, **request: Any) -> dict[str, Any]:
        started = time.monotonic()
        with self._lock:
            while self._starts and self._starts[0] <= started - WINDOW_SECONDS:
                self._starts.popleft()
            refused = len(self._starts) >= self.max_send_rate
            if refused:
                self.throttled += 1
            else:
                # A refused call sends nothing, so only accepted ones use up the window.
                self._starts.append(started)
            pause = self._latency + self._rng.uniform(-self._jitter, self._jitter)

        time.sleep(max(0.0, pause))
        if refused:
            raise _throttled()

        with self._lock:
            self.accepted_at.append(time.monotonic())
        return {
            "MessageId": f"{uuid.uuid4().hex}-000000",
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    def achieved_rate(self) -> float:
        """Accepted sends per second between the first and the last acceptance."""
        with self._lock:
            times = sorted(self.accepted_at)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])


def _throttled() -> ClientError:
    response: Any = {
        "Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."},
        "ResponseMetadata": {"HTTPStatusCode": 429},
    }
    return ClientError(response, "SendEmail")
