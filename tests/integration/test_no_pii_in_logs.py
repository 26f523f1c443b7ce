"""No customer data and no secret in what a full run writes: its logs, what the CLI prints, its SQL.

The whole job runs on the embedded default (`fraud-alerts demo` over the 5,150-row sample) with
every log record captured through the service's own formatter. None of the sample's addresses
(raw or normalised) or names may appear, nor a card's digits as a logged value, nor the value of
a secret set in the environment; every customer value reaches the warehouse as a bound
parameter, never inside SQL text.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.observability import SERVICE_NAME, logger, mask_email, mask_name
from domain.outcomes import RejectReason
from domain.validation import clean_text, normalise_address
from handlers import bootstrap, cli

# The most verbose level, so that every log record of the run is checked.
LOG_LEVEL = "DEBUG"

# Distinctive values for the secrets a process could hold; none is used by the embedded run.
SMTP_PASSWORD = "smtp-pw-5Fq9!leak-canary"
AWS_SECRET = "aws-secret-leak-canary-7Yt2"


@dataclass
class Customers:
    """The customer data in the sample: what must never appear."""

    addresses: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    card_digits: set[str] = field(default_factory=set)


@dataclass
class RecordingDataApi:
    """The embedded Data API client, with every SQL text it is given kept for inspection."""

    inner: Any
    sql_texts: list[str] = field(default_factory=list)

    def execute_statement(self, **request: Any) -> dict[str, Any]:
        self.sql_texts.append(str(request.get("Sql", "")))
        result: dict[str, Any] = self.inner.execute_statement(**request)
        return result

    def batch_execute_statement(self, **request: Any) -> dict[str, Any]:
        self.sql_texts.extend(str(sql) for sql in request.get("Sqls", []))
        result: dict[str, Any] = self.inner.batch_execute_statement(**request)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def customers(shared_dir: Path) -> Customers:
    found = Customers()
    with (shared_dir / "data" / "predicted_fraud_sample.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            _collect(found, row)
    return found


def _collect(found: Customers, row: dict[str, str]) -> None:
    email = row["customer_email"]
    if email.strip():
        normalised = normalise_address(email)
        found.addresses |= {email, email.strip(), email.strip().lower()}
        if not isinstance(normalised, RejectReason):
            found.addresses.add(normalised)

    name = row["customer_name"]
    cleaned = clean_text(name)
    if cleaned:
        found.names |= {name, cleaned}

    if row["card_last4"].strip():
        found.card_digits.add(row["card_last4"].strip())


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    """Every record of the service's logger, formatted as in production, at `LOG_LEVEL`."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    service_logger = logging.getLogger(SERVICE_NAME)
    level = service_logger.level
    service_logger.addHandler(handler)
    logger.setLevel(LOG_LEVEL)
    yield buffer
    service_logger.removeHandler(handler)
    service_logger.setLevel(level)


@pytest.fixture
def embedded_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RecordingDataApi:
    """The embedded default in `tmp_path`, secrets in the environment, SQL recorded."""
    for name in ("FRAUD_ALERTS_BACKEND", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    # Set, so the CLI keeps the level the log fixture chose instead of quieting to WARNING.
    monkeypatch.setenv("LOG_LEVEL", LOG_LEVEL)
    monkeypatch.setenv("SMTP_USER", "fraud-alerts")
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)

    recorder = RecordingDataApi(None)
    build_local = bootstrap.local_data_api

    def recording_local_data_api(settings: Any, clock: Any) -> RecordingDataApi:
        recorder.inner = build_local(settings, clock)
        return recorder

    monkeypatch.setattr(bootstrap, "local_data_api", recording_local_data_api)
    return recorder


# About 40 s on two cores: the run itself (the same as `make demo` over the sample).
@pytest.mark.slow
def test_a_full_run_leaks_no_customer_data_and_no_secret(
    *,
    shared_dir: Path,
    customers: Customers,
    log_buffer: io.StringIO,
    embedded_run: RecordingDataApi,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    sample = shared_dir / "data" / "predicted_fraud_sample.csv"

    code = cli.main(["demo", "--csv", str(sample)])

    printed = capsys.readouterr()
    logs = log_buffer.getvalue()
    assert code == 0
    assert len(list((tmp_path / "outbox").glob("*.eml"))) > 4000
    assert "batch_claimed" in logs

    everything = "\n".join([logs, *_decoded_values(logs), printed.out, printed.err])
    _assert_absent(customers.addresses, everything, "address")
    _assert_absent(customers.names, everything, "name")
    _assert_absent({SMTP_PASSWORD, AWS_SECRET}, everything, "secret")
    _assert_no_card_digits(logs, customers.card_digits)

    sql = "\n".join(embedded_run.sql_texts)
    assert "batch_outcome" in sql
    _assert_absent(customers.addresses | customers.names, sql, "SQL text")


def test_a_run_at_debug_level_logs_without_failing(
    log_buffer: io.StringIO, embedded_run: RecordingDataApi
) -> None:
    logger.setLevel("DEBUG")

    assert cli.main(["migrate"]) == 0
    assert "statement_finished" in log_buffer.getvalue()


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("jane.doe@example.com", "j***@***.com"),
        ("  JANE@EXAMPLE.ORG ", "J***@***.org"),
        ("x@localhost", "x***@***"),
        ("no-at-sign", "***"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_email_keeps_only_a_first_letter_and_the_top_level_domain(
    address: str | None, masked: str
) -> None:
    assert mask_email(address) == masked


@pytest.mark.parametrize(("name", "masked"), [("Jane Doe", "<name>"), ("", ""), (None, "")])
def test_mask_name_keeps_nothing_of_the_name(name: str | None, masked: str) -> None:
    assert mask_name(name) == masked


def _decoded_values(logs: str) -> Iterator[str]:
    # The JSON formatter may escape non-ASCII (\uXXXX): search the decoded values as well.
    for line in logs.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        yield from _strings(record)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def _assert_absent(values: set[str], text: str, what: str) -> None:
    leaked = sorted(value for value in values if value and value in text)
    assert not leaked, f"{len(leaked)} {what}(s) found, e.g. {len(leaked[0])} characters long"


def _assert_no_card_digits(logs: str, card_digits: set[str]) -> None:
    # Four digits occur by chance in ids and times, so no logged value may *be* a card's digits,
    # and no field may be about a card at all.
    for line in logs.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        assert not any("card" in key.lower() or "last4" in key.lower() for key in record)
        assert not any(isinstance(value, str) and value in card_digits for value in record.values())
