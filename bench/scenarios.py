"""One function per figure; each runs ours and (where it has one) the naive loop once.

Ours is always the production wiring: `handlers.bootstrap.build_runtime` with the Data API
stand-in in place of boto3's client, `SesMailer` over the fake SES, and the server-side wait
the AWS backend uses (WaitTimeSeconds), so the calls counted are the calls AWS would see.
"""

from __future__ import annotations

import csv
import email.policy
import os
import re
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from adapters.clock import SystemClock
from adapters.local_warehouse.data_api import LocalDataApiClient
from adapters.mail.ses import SesMailer
from bench.fake_ses import FakeSes
from bench.naive import NaiveRun, naive_drain, unsent_rows
from bench.warehouse import SUBMITTING, warehouse
from domain.alert import Alert, AlertRow
from domain.outcomes import Delivery, Rejected, Sent
from domain.ports import Deadline, Mailer, MailerReport, OutboundEmail
from domain.rendering import AlertRenderer, Sender
from domain.sweep import SweepReport
from domain.validation import validate_row
from handlers.bootstrap import SES_WORKERS, Runtime, build_runtime
from handlers.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CSV = Path("data") / "predicted_fraud_sample.csv"

# What the AWS backend asks the Data API to wait (handlers/bootstrap.py builds it with 20).
PRODUCTION_WAIT_SECONDS = 20

SENDER = Sender("alerts@bank.example", "Card Security")


@dataclass(frozen=True, slots=True)
class Latency:
    """The injected AWS latencies."""

    statement_seconds: float = 0.3
    ses_seconds: float = 0.05
    ses_jitter_seconds: float = 0.02


# Ours ---------------------------------------------------------------------------------------


def runtime(
    client: Any,
    mailer: Mailer,
    *,
    batch_size: int = 100,
    renderer: AlertRenderer | None = None,
) -> Runtime:
    """The production composition root over the stand-ins."""
    settings = Settings.from_env({"FRAUD_ALERTS_BACKEND": "local", "BATCH_SIZE": str(batch_size)})
    built = build_runtime(settings, clock=SystemClock(), data_api=client, mailer=mailer)
    built = replace(built, server_wait_seconds=PRODUCTION_WAIT_SECONDS)
    return replace(built, renderer=renderer) if renderer is not None else built


def sweep(built: Runtime) -> SweepReport:
    deadline = Deadline(built.clock, None)
    use_case, command = built.sweep(deadline)
    return use_case.run(command, deadline)


def ses_mailer(ses: FakeSes) -> SesMailer:
    """`SesMailer` as bootstrap builds it for AWS, over the fake client."""
    return SesMailer(
        ses,  # type: ignore[arg-type]
        sender="Card Security <alerts@bank.example>",
        clock=SystemClock(),
        max_workers=SES_WORKERS,
        deadline_margin_seconds=6.0,
    )


def fake_ses(quota: float, latency: Latency, seed: int) -> FakeSes:
    return FakeSes(
        quota,
        latency_seconds=latency.ses_seconds,
        jitter_seconds=latency.ses_jitter_seconds,
        seed=seed,
    )


class AcceptingMailer:
    """A mailer that takes everything at once and keeps nothing: the memory figure's mailer."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, emails: Sequence[OutboundEmail], deadline: Deadline) -> MailerReport:
        self.sent += len(emails)
        deliveries: list[Delivery] = [Sent(e.alert_key, "m") for e in emails]
        return MailerReport(deliveries=deliveries)


class SharedMessageRenderer(AlertRenderer):
    """Skips templating: every alert gets the same message, so only the pipeline is measured."""

    _message = EmailMessage()

    def render(self, alert: Alert, now: datetime) -> OutboundEmail:
        return OutboundEmail(alert.alert_key, alert.recipient, self._message)


# Figures ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statements:
    """Data API calls per 1,000 alerts: submitted statements, and every round trip."""

    ours_statements: float
    ours_round_trips: float
    naive_statements: float
    naive_round_trips: float


def statements(alerts: int) -> Statements:
    """Count the calls of a full drain of `alerts` (no latency: counting only)."""
    with warehouse(alerts) as client:
        ours = runtime(client, AcceptingMailer())
        report = sweep(ours)
        ours_calls = dict(client.calls)
    with warehouse(alerts) as client:
        naive = naive_drain(client, fake_ses(1e9, Latency(ses_seconds=0, ses_jitter_seconds=0), 1))
        naive_calls = dict(client.calls)

    def per_1000(calls: dict[str, int], sent: int, only: frozenset[str] | None) -> float:
        counted = sum(n for op, n in calls.items() if only is None or op in only)
        return 1000.0 * counted / sent

    return Statements(
        per_1000(ours_calls, report.sent, SUBMITTING),
        per_1000(ours_calls, report.sent, None),
        per_1000(naive_calls, naive.sent, SUBMITTING),
        per_1000(naive_calls, naive.sent, None),
    )


class CallRecorder:
    """Forwards every call to the Data API client, noting each one's name and end time."""

    def __init__(self, client: LocalDataApiClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.ended: list[tuple[str, float]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target) or name.startswith("_"):
            return target

        def recorded(*args: Any, **kwargs: Any) -> Any:
            try:
                return target(*args, **kwargs)
            finally:
                with self._lock:
                    self.ended.append((name, time.monotonic()))

        return recorded


@dataclass(frozen=True, slots=True)
class FirstEmail:
    """Data API calls on the path from a FINISHED event to the first accepted email."""

    ours_round_trips: int
    ours_calls: tuple[str, ...]
    ours_seconds: float
    naive_round_trips: int
    naive_seconds: float


def first_email(latency: Latency) -> FirstEmail:
    """Run what the FINISHED event triggers (the sweep); count the calls the first email waits for.

    A call counts when it returned before the first alert was rendered: the claim taken ahead
    on the ledger thread starts then too, but runs alongside rendering and sending.
    """
    with warehouse(200, statement_seconds=latency.statement_seconds) as client:
        recorder = CallRecorder(client)
        ses = fake_ses(1000.0, latency, seed=1)
        renderer = _StartRecordingRenderer(SENDER)
        started = time.monotonic()
        with ses_mailer(ses) as mailer:
            sweep(runtime(recorder, mailer, renderer=renderer))
        ours_calls = tuple(name for name, ended in recorder.ended if ended <= renderer.first_start)
        ours_seconds = ses.accepted_at[0] - started

    with warehouse(5, statement_seconds=latency.statement_seconds) as client:
        recorder = CallRecorder(client)
        ses = fake_ses(1000.0, latency, seed=1)
        started = time.monotonic()
        naive_drain(recorder, ses)
        naive_calls = [name for name, ended in recorder.ended if ended <= ses.accepted_at[0]]
        naive_seconds = ses.accepted_at[0] - started

    return FirstEmail(len(ours_calls), ours_calls, ours_seconds, len(naive_calls), naive_seconds)


class _StartRecordingRenderer(AlertRenderer):
    first_start = float("inf")

    def render(self, alert: Alert, now: datetime) -> OutboundEmail:
        self.first_start = min(self.first_start, time.monotonic())
        return super().render(alert, now)


@dataclass(frozen=True, slots=True)
class SendRate:
    """Achieved accepted sends per second over the quota, and throttling errors seen."""

    quota: float
    sweep_ratio: float
    sweep_throttled: int
    mailer_ratio: float
    mailer_throttled: int


def send_rate(
    quota: float, emails: int, latency: Latency, seed: int, prepared: Sequence[OutboundEmail]
) -> SendRate:
    """A full sweep of `emails` alerts at `quota`, then the mailer alone on `prepared` emails."""
    with warehouse(emails, statement_seconds=latency.statement_seconds) as client:
        ses = fake_ses(quota, latency, seed)
        mailer = ses_mailer(ses)
        try:
            report = sweep(runtime(client, mailer))
        finally:
            mailer.close()
        if report.sent != emails:
            raise BenchError(f"the sweep sent {report.sent} of {emails} at {quota}/s")
        sweep_rate, sweep_throttled = ses.achieved_rate(), ses.throttled

    ses = fake_ses(quota, latency, seed + 1)
    with ses_mailer(ses) as alone:
        for start in range(0, emails, 100):
            batch = prepared[start : min(start + 100, emails)]
            alone.send(batch, Deadline(SystemClock(), None))
    return SendRate(
        quota, sweep_rate / quota, sweep_throttled, ses.achieved_rate() / quota, ses.throttled
    )


@dataclass(frozen=True, slots=True)
class Drain:
    """Wall time to drain a backlog at a quota: ours measured, the naive loop extrapolated."""

    alerts: int
    ours_seconds: float
    naive_seconds: float
    naive_sample: int
    naive_seconds_per_alert: float


def drain(alerts: int, quota: float, naive: NaiveRun, latency: Latency, seed: int) -> Drain:
    """Ours drains `alerts` for real; the naive loop's sample run `naive` is extrapolated."""
    with warehouse(alerts, statement_seconds=latency.statement_seconds) as client:
        mailer = ses_mailer(fake_ses(quota, latency, seed))
        started = time.perf_counter()
        try:
            report = sweep(runtime(client, mailer))
        finally:
            mailer.close()
        ours = time.perf_counter() - started
        if report.sent != alerts:
            raise BenchError(f"the drain sent {report.sent} of {alerts}")

    return Drain(
        alerts, ours, naive.extrapolated_seconds(alerts), naive.sent, naive.seconds_per_alert
    )


def naive_sample_run(sample: int, latency: Latency, seed: int) -> NaiveRun:
    """The naive loop over `sample` alerts with the injected latencies."""
    with warehouse(sample, statement_seconds=latency.statement_seconds) as client:
        return naive_drain(client, fake_ses(1000.0, latency, seed))


@dataclass(frozen=True, slots=True)
class Memory:
    """Peak Python heap (tracemalloc) while draining a small and a large backlog."""

    sizes: tuple[int, int]
    ours: tuple[int, int]
    naive: tuple[int, int]


def memory(small: int, large: int) -> Memory:
    """Drain each size with no latency, an accepting mailer and no templating.

    Templating costs the same memory per alert whatever the backlog, and about 4 ms of CPU,
    which would make the large drain too slow for the time budget. The stand-in keeps only its
    latest statements, as the Data API keeps results on its side, not in our process. The
    naive loop's peak is its first step, reading every unsent row, so that is what is traced.
    """
    _drain_peak(100)  # Warm-up: lazy imports and caches would count against the small size.
    return Memory(
        (small, large),
        (_drain_peak(small), _drain_peak(large)),
        (_query_peak(small), _query_peak(large)),
    )


def _drain_peak(alerts: int) -> int:
    with warehouse(alerts, max_retained_statements=16) as client:
        mailer = AcceptingMailer()
        built = runtime(client, mailer, renderer=SharedMessageRenderer(SENDER))
        tracemalloc.start()
        try:
            sweep(built)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        if mailer.sent != alerts:
            raise BenchError(f"the memory drain sent {mailer.sent} of {alerts}")
        return peak


def _query_peak(alerts: int) -> int:
    with warehouse(alerts, max_retained_statements=16) as client:
        tracemalloc.start()
        try:
            rows = unsent_rows(client)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        if len(rows) != alerts:
            raise BenchError(f"the naive query read {len(rows)} of {alerts}")
        return peak


@dataclass(frozen=True, slots=True)
class CpuPerAlert:
    """Milliseconds of CPU per alert (process time), by step."""

    rows: int
    validate_ms: float
    render_ms: float
    mime_ms: float

    @property
    def total_ms(self) -> float:
        return self.validate_ms + self.render_ms + self.mime_ms


def cpu_per_alert(rows: Sequence[AlertRow]) -> CpuPerAlert:
    """validate_row, AlertRenderer.render and the SMTP serialisation SesMailer does, per alert."""
    renderer = AlertRenderer(SENDER)
    now = datetime(2026, 12, 3, 8, 0, 0)
    validate = render = mime = 0.0
    rendered = 0
    for row in rows:
        before = time.process_time()
        checked = validate_row(row)
        validate += time.process_time() - before
        if isinstance(checked, Rejected):
            continue

        before = time.process_time()
        outbound = renderer.render(checked, now)
        render += time.process_time() - before

        before = time.process_time()
        outbound.message.as_bytes(policy=email.policy.SMTP)
        mime += time.process_time() - before
        rendered += 1
    per = 1000.0 / max(1, rendered)
    return CpuPerAlert(len(rows), 1000.0 * validate / len(rows), render * per, mime * per)


def sample_rows(count: int) -> list[AlertRow]:
    """The first `count` rows of the shared messy sample, or generated ones without it."""
    # The shared material sits beside the checkout (as CI lays it) or at FRAUD_ALERTS_SHARED.
    shared = Path(os.environ.get("FRAUD_ALERTS_SHARED", REPO.parent / "shared")) / SAMPLE_CSV
    if shared.is_file():
        with shared.open(encoding="utf-8", newline="") as handle:
            records = [
                record for _, record in zip(range(count), csv.DictReader(handle), strict=False)
            ]
    else:
        from adapters.local_warehouse.sample_data import generate_rows

        records = list(generate_rows(count))
    return [_alert_row(index, record) for index, record in enumerate(records)]


def prerendered(count: int) -> list[OutboundEmail]:
    """`count` valid alerts rendered by the real renderer (the mailer-alone figure's input)."""
    renderer = AlertRenderer(SENDER)
    now = datetime(2026, 12, 3, 8, 0, 0)
    emails = []
    for number in range(count):
        checked = validate_row(_valid_row(number))
        assert not isinstance(checked, Rejected)
        emails.append(renderer.render(checked, now))
    return emails


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s(\S.*)$")


def cold_import_ms(module: str = "handlers.lambda_entry") -> float:
    """Cumulative import time of `module` in a fresh interpreter (`python -X importtime`)."""
    completed = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    for line in completed.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match and match.group(3) == module:
            return int(match.group(2)) / 1000.0
    raise BenchError(f"no import time line for {module}")


class BenchError(RuntimeError):
    """A scenario did not do what it must for its figure to mean anything."""


# Rows ---------------------------------------------------------------------------------------


def _valid_row(number: int) -> AlertRow:
    return AlertRow(
        alert_key=f"txn-{number:08d}",
        transaction_id=f"txn-{number:08d}",
        customer_id=f"cust-{number % 5000}",
        customer_email=f"customer{number}@example.com",
        customer_name=f"Jane Doe {number % 97}",
        card_last4=f"{number % 10000:04d}",
        amount=Decimal("12.34") + number % 1000,
        currency="EUR",
        merchant_name="Example Shop",
        transaction_time=datetime(2026, 11, 30, 8, 0, 0),
        fraud_score=0.9,
        model_version="fraud-xgb-2026.12",
        predicted_at=datetime(2026, 11, 30, 8, 5, 0),
    )


def _alert_row(index: int, record: dict[str, str | None]) -> AlertRow:
    def text(name: str) -> str | None:
        return record.get(name) or None

    transaction_id = text("transaction_id")
    return AlertRow(
        alert_key=transaction_id or f"row:{index}",
        transaction_id=transaction_id,
        customer_id=text("customer_id"),
        customer_email=text("customer_email"),
        customer_name=text("customer_name"),
        card_last4=text("card_last4"),
        amount=_decimal(text("amount")),
        currency=text("currency"),
        merchant_name=text("merchant_name"),
        transaction_time=_time(text("transaction_time")),
        fraud_score=_float(text("fraud_score")),
        model_version=text("model_version"),
        predicted_at=_time(text("predicted_at")),
    )


def _decimal(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
