"""Powertools Metrics and Tracer for the Lambda handlers, and the metrics of one run."""

from __future__ import annotations

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from adapters.observability import SERVICE_NAME
from domain.ports import StatusReport
from domain.sweep import SweepReport

NAMESPACE = "FraudAlerts"

metrics = Metrics(namespace=NAMESPACE, service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)


def count(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_sweep(report: SweepReport) -> None:
    """One metric per figure the dashboard and alarms read (see infra/)."""
    count("AlertsSent", report.sent)
    count("AlertsRejected", report.rejected_total)
    count("AlertsDeferred", report.deferred_total)
    count("Batches", report.batches)
    count("SendThrottled", report.throttled)
    count("SendingHalted", 1 if report.halt else 0)
    metrics.add_metric(
        name="RunDurationSeconds", unit=MetricUnit.Seconds, value=report.duration_seconds
    )


def record_status(status: StatusReport) -> None:
    count("UnknownAlerts", status.unknown)
    count("ExpiredClaims", status.expired_claims)
    count("AlertsDeferredTooOften", status.deferred_too_often)
    count("PendingAlerts", status.pending)
    metrics.add_metric(
        name="OldestPendingAlertAgeSeconds",
        unit=MetricUnit.Seconds,
        value=status.oldest_pending_age_seconds or 0.0,
    )
