"""Fixtures shared by every tier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI-sized budgets by default; FRAUD_ALERTS_HYPOTHESIS_PROFILE=thorough for the large ones.
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("FRAUD_ALERTS_HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    """`shared/` beside the checkout (as CI lays it), or FRAUD_ALERTS_SHARED."""
    return Path(os.environ.get("FRAUD_ALERTS_SHARED", REPO.parent / "shared"))


@pytest.fixture
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        pytest.skip(f"shared material not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    # Powertools keeps metrics in a process-wide set; a test must neither see nor leave any.
    from handlers.telemetry import metrics

    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture(autouse=True)
def _aws_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # No test may reach AWS: dummy credentials, a fixed region, and Powertools kept quiet.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "FraudAlerts")
