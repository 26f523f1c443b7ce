"""The CLI end to end on the embedded default: a real DuckDB file and a real outbox."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from email.utils import getaddresses

import pytest

from handlers import runs
from handlers.cli import main


@pytest.fixture
def local(monkeypatch, tmp_path):
    monkeypatch.delenv("FRAUD_ALERTS_BACKEND", raising=False)
    monkeypatch.setenv("LOCAL_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    runs.install_runtime(None)
    yield tmp_path
    runs.install_runtime(None)


def _outbox(tmp_path):
    return sorted((tmp_path / "outbox").glob("*.eml"))


def test_demo_sends_one_email_per_usable_alert_and_nothing_the_second_time(local, capsys):
    assert main(["demo", "--rows", "300"]) == 0
    first = capsys.readouterr().out
    emails = _outbox(local)

    assert main(["demo"]) == 0
    second = capsys.readouterr().out

    assert "sent" in first
    assert len(emails) > 200
    assert _outbox(local) == emails
    assert _row(second, "sent") == "0"
    for path in emails[:50]:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert len(getaddresses(message.get_all("To"))) == 1


def test_load_then_sweep_the_shared_sample(local, shared_dir, capsys):
    assert main(["load", "--csv", str(shared_dir / "data" / "predicted_fraud_sample.csv")]) == 0
    assert main(["sweep", "--json"]) == 0
    progress = capsys.readouterr().err

    # A long sweep shows progress: a line per batch on stderr.
    assert "batch 1: " in progress
    assert "batch 45: 4408 sent, 92 rejected, 0 deferred" in progress

    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)

    # The sample: 5,150 rows, 150 transactions scored twice, 514 rows already emailed.
    assert status["pending"] == 0
    assert status["claimed"] == 0
    assert status["duplicate_rows"] == 150
    assert status["sent"] == len(_outbox(local))
    assert status["sent"] + status["rejected"] == 4_636 - _duplicates_among_unsent(shared_dir)
    assert set(status["rejected_by_reason"]) <= {
        "missing_email",
        "invalid_email",
        "unsupported_email",
    }


def _duplicates_among_unsent(shared_dir) -> int:
    import csv

    with (shared_dir / "data" / "predicted_fraud_sample.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    sent_ids = {r["transaction_id"] for r in rows if r["email_sent"] == "true"}
    unsent = [r["transaction_id"] for r in rows if r["email_sent"] == "false"]
    # Rows of a transaction already emailed, plus second scorings, are not alerts of their own.
    return len(unsent) - len(set(unsent) - sent_ids)


def test_invoke_runs_the_lambda_handler_on_an_event_file(local, shared_dir, capsys):
    assert main(["demo", "--rows", "50"]) == 0
    capsys.readouterr()

    code = main(
        ["invoke", "--event", str(shared_dir / "events" / "unrelated-statement-finished.json")]
    )
    result = json.loads(capsys.readouterr().out)

    assert code == 0
    assert result == {"reason": "not_a_model_statement", "status": "ignored"}


def test_a_bad_setting_stops_with_a_message_naming_it(local, monkeypatch, capsys):
    monkeypatch.setenv("BATCH_SIZE", "lots")

    assert main(["status"]) == 2
    assert "BATCH_SIZE='lots' is not a whole number" in capsys.readouterr().err


def _row(output: str, label: str) -> str:
    for line in output.splitlines():
        parts = line.split()
        if parts and " ".join(parts[:-1]) == label:
            return parts[-1]
    raise AssertionError(f"no row {label!r} in output")


def test_a_missing_warehouse_is_named_and_not_created(local, capsys):
    assert main(["status"]) == 2

    assert "LOCAL_WAREHOUSE=" in capsys.readouterr().err
    assert not (local / "warehouse.duckdb").exists()


def test_unreadable_inputs_end_with_one_line_not_a_traceback(local, tmp_path, capsys):
    (tmp_path / "event.json").write_text("not json", encoding="utf-8")
    (tmp_path / "wrong.csv").write_text("a,b\n1,2\n", encoding="utf-8")

    assert main(["invoke", "--event", str(tmp_path / "event.json")]) == 2
    assert main(["load", "--csv", str(tmp_path / "missing.csv")]) == 2
    assert main(["load", "--csv", str(tmp_path / "wrong.csv")]) == 1

    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        f"fraud-alerts: configuration error: --event {tmp_path / 'event.json'}: not a JSON"
        " event (Expecting value: line 1 column 1 (char 0))",
        f"fraud-alerts: cannot read input: [Errno 2] No such file or directory: "
        f"'{tmp_path / 'missing.csv'}'",
        "fraud-alerts: CsvLayoutError: wrong.csv: not columns of predicted_fraud: ['a', 'b']",
    ]


def test_demo_refuses_a_row_count_below_one(local):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--rows", "0"])

    assert exit_.value.code == 2
