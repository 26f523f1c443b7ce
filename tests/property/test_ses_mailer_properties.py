"""Invariants of SesMailer for any sequence of SES answers, served by a scripted fake client."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from email.message import EmailMessage
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.mail.ses import SesMailer
from domain.outcomes import DeferReason, Deferred, Delivery, Sent
from domain.ports import Deadline, OutboundEmail
from tests.fakes import FakeClock

ACCEPTED = "accepted"
THROTTLED = "throttled"
REJECTED = "rejected"
PAUSED = "paused"
TIMEOUT = "timeout"

LATENCY_SECONDS = 0.05


def client_error(code: str, status: int, operation: str = "SendEmail") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "scripted"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


class ScriptedSesClient:
    """A sesv2 client that answers SendEmail calls in the order of `outcomes`, then accepts.

    It records when each call started (by the fake clock) and which calls it accepted.
    """

    def __init__(
        self, clock: FakeClock, outcomes: list[str], rate: float, max_24: int | None
    ) -> None:
        self._clock = clock
        self._outcomes = list(outcomes)
        self._rate = rate
        self._max_24 = max_24
        self.starts: list[float] = []
        self.accepted: dict[str, str] = {}
        self.accepted_calls: Counter[str] = Counter()
        self.calls_after_pause = 0
        self._paused = False

    def get_account(self) -> dict[str, Any]:
        return {
            "SendQuota": {
                "MaxSendRate": self._rate,
                "Max24HourSend": -1 if self._max_24 is None else self._max_24,
                "SentLast24Hours": len(self.accepted),
            },
            "SendingEnabled": True,
        }

    def send_email(self, **request: Any) -> dict[str, Any]:
        self.starts.append(self._clock.monotonic())
        if self._paused:
            self.calls_after_pause += 1
        self._clock.advance(LATENCY_SECONDS)
        (recipient,) = request["Destination"]["ToAddresses"]
        key = recipient.split("@")[0]
        outcome = self._outcomes.pop(0) if self._outcomes else ACCEPTED

        if outcome == THROTTLED:
            raise client_error("TooManyRequestsException", 429)
        if outcome == REJECTED:
            raise client_error("MessageRejected", 400)
        if outcome == PAUSED:
            self._paused = True
            raise client_error("SendingPausedException", 400)
        if outcome == TIMEOUT:
            raise ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com")

        message_id = f"id-{len(self.starts)}"
        self.accepted[key] = message_id
        self.accepted_calls[key] += 1
        return {"MessageId": message_id}


def outbound(index: int) -> OutboundEmail:
    message = EmailMessage()
    message["From"] = "alerts@bank.example"
    message["To"] = f"alert-{index}@example.com"
    message["Subject"] = "Card alert"
    message.set_content("text")
    return OutboundEmail(
        alert_key=f"alert-{index}", recipient=f"alert-{index}@example.com", message=message
    )


def busiest_second(starts: list[float]) -> int:
    ordered = sorted(starts)
    return max(
        (bisect_left(ordered, start + 1.0) - i for i, start in enumerate(ordered)), default=0
    )


@settings(max_examples=100, deadline=None)
@given(
    outcomes=st.lists(
        st.sampled_from([ACCEPTED, THROTTLED, REJECTED, PAUSED, TIMEOUT]), max_size=40
    ),
    batch_size=st.integers(min_value=0, max_value=15),
    rate=st.sampled_from([1.0, 2.0, 2.5, 5.0, 14.0]),
    cap=st.one_of(st.none(), st.sampled_from([1.0, 3.0, 100.0])),
    max_24=st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
    deadline_seconds=st.one_of(st.none(), st.floats(min_value=0.0, max_value=20.0)),
    max_attempts=st.integers(min_value=1, max_value=4),
)
def test_mailer_invariants_hold_for_any_answers(
    *,
    outcomes: list[str],
    batch_size: int,
    rate: float,
    cap: float | None,
    max_24: int | None,
    deadline_seconds: float | None,
    max_attempts: int,
) -> None:
    clock = FakeClock()
    client = ScriptedSesClient(clock, outcomes, rate, max_24)
    emails = [outbound(i) for i in range(batch_size)]

    with SesMailer(
        client,  # type: ignore[arg-type]
        sender="Card Security <alerts@bank.example>",
        rate_cap=cap,
        clock=clock,
        max_workers=1,
        max_attempts=max_attempts,
        deadline_margin_seconds=1.0,
    ) as mailer:
        report = mailer.send(emails, Deadline(clock, deadline_seconds))

    keys = [d.alert_key for d in report.deliveries]
    assert sorted(keys) == sorted(e.alert_key for e in emails)

    sent = {d.alert_key: d.message_id for d in report.deliveries if isinstance(d, Sent)}
    assert sent == client.accepted
    assert all(count == 1 for count in client.accepted_calls.values())

    effective_rate = rate if cap is None else min(rate, cap)
    assert busiest_second(client.starts) <= effective_rate
    assert client.calls_after_pause == 0
    if max_24 is not None:
        assert len(sent) <= max_24

    halted_at = next(
        (i for i, d in enumerate(report.deliveries) if is_halt_deferral(d)), len(emails)
    )
    assert (report.halt is not None) == (halted_at < len(emails))
    assert not any(isinstance(d, Sent) for d in report.deliveries[halted_at:])


def is_halt_deferral(delivery: Delivery) -> bool:
    return isinstance(delivery, Deferred) and delivery.reason in (
        DeferReason.SENDING_HALTED,
        DeferReason.DAILY_QUOTA,
    )
