"""The Lambda handlers on every sample event: AWS settings, moto for Secrets Manager and SES,
the production Data API adapter on the embedded warehouse."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from handlers import runs
from handlers.bootstrap import build_runtime
from handlers.lambda_entry import LocalLambdaContext, route
from handlers.settings import ConfigurationError, Settings
from tests.fakes import FakeClock
from tests.warehouse import TestWarehouse, model_row

REGION = "eu-west-1"
SENDER = "alerts@bank.example"


@pytest.fixture
def aws(monkeypatch, tmp_path):
    with mock_aws():
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="fraud-alerts/redshift",
            SecretString=json.dumps(
                {
                    "username": "fraud_alerts",
                    "password": "s3cr3t-Value",
                    "dbClusterIdentifier": "fraud-analytics",
                }
            ),
        )
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
        env = {
            "FRAUD_ALERTS_BACKEND": "aws",
            "SENDER_EMAIL": SENDER,
            "REDSHIFT_CLUSTER_ID": "fraud-analytics",
            "REDSHIFT_DATABASE": "dev",
            "SECRET_ARN": secret["ARN"],
            "ALERTS_TABLE": "predicted_fraud",
            "DELIVERY_TABLE": "fraud_alert_delivery",
            "SEND_RATE_CAP": "500",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)

        clock = FakeClock()
        warehouse = TestWarehouse(tmp_path / "w.duckdb", clock)
        runtime = build_runtime(Settings.from_env(), clock=clock, data_api=warehouse.client)
        runs.install_runtime(runtime)
        yield warehouse
        runs.install_runtime(None)


def _event(shared_dir, name):
    return json.loads((shared_dir / "events" / name).read_text(encoding="utf-8"))


def _sent_messages():
    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def test_a_finished_model_run_emails_every_pending_alert_through_ses(aws, shared_dir):
    aws.insert([model_row("t1"), model_row("t2"), model_row("t3", email_sent=True)])

    result = route(_event(shared_dir, "model-run-finished.json"), LocalLambdaContext())

    assert result["status"] == "done"
    assert result["sent"] == 2
    messages = _sent_messages()
    assert len(messages) == 2
    parsed = [message_from_bytes(m.raw_data.encode(), policy=policy.default) for m in messages]
    assert sorted(str(p["To"]) for p in parsed) == [
        "Jane Doe <t1@example.com>",
        "Jane Doe <t2@example.com>",
    ]
    delivery = aws.delivery()
    assert {delivery["t1"]["state"], delivery["t2"]["state"]} == {"sent"}
    assert delivery["t1"]["message_id"]


def test_the_scheduled_sweep_does_the_same_job(aws, shared_dir):
    aws.insert([model_row("t1")])

    result = route(_event(shared_dir, "scheduled-sweep.json"), LocalLambdaContext())

    assert (result["status"], result["trigger"], result["sent"]) == ("done", "schedule", 1)


def test_a_failed_model_run_sends_nothing_and_says_why(aws, shared_dir):
    aws.insert([model_row("t1")])

    result = route(_event(shared_dir, "model-run-failed.json"), LocalLambdaContext())

    assert result["status"] == "model_run_failed"
    assert result["state"] == "FAILED"
    # The sample's statement is unknown to this warehouse: the lookup's own code is reported.
    assert result["error"] == "unavailable (ResourceNotFoundException)"
    assert _sent_messages() == []


def test_the_error_of_a_failed_model_statement_is_read_from_describe_statement(aws, shared_dir):
    failed = aws.client.execute_statement(
        Sql="SELECT * FROM no_such_table", Database="dev", WorkgroupName="fraud-alerts-local"
    )
    event = _event(shared_dir, "model-run-failed.json")
    event["detail"]["statementId"] = failed["Id"]

    result = route(event, LocalLambdaContext())

    assert result["error"] == 'ERROR: relation "no_such_table" does not exist'
    assert _sent_messages() == []


def test_another_teams_statement_is_ignored(aws, shared_dir):
    aws.insert([model_row("t1")])

    result = route(_event(shared_dir, "unrelated-statement-finished.json"), LocalLambdaContext())

    assert result == {"status": "ignored", "reason": "not_a_model_statement"}
    assert _sent_messages() == []
    assert aws.delivery() == {}


def test_a_run_stops_before_the_deadline_and_leaves_alerts_pending(aws, shared_dir):
    aws.insert([model_row("t1")])

    result = route(
        _event(shared_dir, "model-run-finished.json"), LocalLambdaContext(timeout_seconds=12)
    )

    assert result["sent"] == 0
    assert _sent_messages() == []
    # Too close to the deadline for any write: the alert is not even registered yet.
    assert "t1" not in aws.delivery()


def test_an_unreadable_secret_stops_start_up_naming_the_setting(monkeypatch):
    with mock_aws():
        monkeypatch.setenv("FRAUD_ALERTS_BACKEND", "aws")
        monkeypatch.setenv("SENDER_EMAIL", SENDER)
        monkeypatch.setenv("REDSHIFT_CLUSTER_ID", "fraud-analytics")
        monkeypatch.setenv("REDSHIFT_DATABASE", "dev")
        monkeypatch.setenv(
            "SECRET_ARN", f"arn:aws:secretsmanager:{REGION}:123456789012:secret:missing-AbCdEf"
        )

        with pytest.raises(ConfigurationError, match="SECRET_ARN cannot be read"):
            build_runtime(Settings.from_env())
