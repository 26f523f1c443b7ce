"""Start-up checks: every bad setting stops start-up with a message naming it, and SQL is safe.

Table names are the one thing formatted into SQL text (identifiers cannot be bound), so they
are checked strictly when the settings are read; every value is bound as a parameter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.redshift.queries import LedgerSql
from adapters.redshift.tables import InvalidTableNameError, TableNames
from domain.outcomes import DeferReason, Deferred, Delivery, Rejected, RejectReason, Sent
from handlers.settings import Backend, ConfigurationError, Settings

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:redshift/fraud-alerts-AbCdEf"

AWS = {
    "FRAUD_ALERTS_BACKEND": "aws",
    "SENDER_EMAIL": "alerts@cards.example.com",
    "REDSHIFT_DATABASE": "analytics",
    "REDSHIFT_CLUSTER_ID": "fraud-analytics",
    "SECRET_ARN": SECRET_ARN,
}

# A value that would end a SQL string literal and start a statement if it were formatted in.
HOSTILE = "x'); DROP TABLE predicted_fraud; --"


def test_the_embedded_default_needs_no_settings() -> None:
    settings = Settings.from_env({})

    assert settings.backend is Backend.LOCAL
    assert settings.tables == TableNames("predicted_fraud", "fraud_alert_delivery")


def test_a_complete_aws_configuration_is_accepted() -> None:
    settings = Settings.from_env(AWS)

    assert settings.backend is Backend.AWS
    assert settings.secret_arn == SECRET_ARN
    assert settings.tables == TableNames()


def test_running_in_lambda_means_aws() -> None:
    with pytest.raises(ConfigurationError, match="SENDER_EMAIL"):
        Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "fraud-alerts"})


# (setting, bad value or None to unset, on top of the AWS configuration)
BAD_SETTINGS = [
    ("FRAUD_ALERTS_BACKEND", "gcp"),
    ("SES_CONFIGURATION_SET", "bad name!"),
    ("IDEMPOTENCY_TABLE", "x y"),
    ("EMAIL_LOCALE", "garbage"),
    ("SENDER_EMAIL", None),
    ("SENDER_EMAIL", "alerts at bank"),
    ("SENDER_EMAIL", "a@example.com\r\nBcc: x@example.com"),
    ("SENDER_NAME", "Card Security\r\nBcc: x@example.com"),
    ("SENDER_NAME", "N" * 65),
    ("STATEMENT_NAME_PREFIX", "fraud-\nmodel:"),
    ("BATCH_SIZE", "many"),
    ("BATCH_SIZE", "0"),
    ("BATCH_SIZE", "501"),
    ("CLAIM_LEASE_SECONDS", "59"),
    ("MAX_DEFERRALS", "-1"),
    ("DELIVERY_POLICY", "exactly-once"),
    ("SEND_RATE_CAP", "0"),
    ("SEND_RATE_CAP", "inf"),
    ("SEND_RATE_CAP", "fast"),
    ("TEMPLATE_DIR", "/nonexistent/templates"),
    ("EMAIL_LOCALE", "x" * 17),
    ("REDSHIFT_DATABASE", None),
    ("REDSHIFT_DATABASE", "analytics; drop"),
    ("REDSHIFT_CLUSTER_ID", "Fraud_Analytics"),
    ("REDSHIFT_WORKGROUP", "-starts-with-dash"),
    ("SECRET_ARN", "redshift/fraud-alerts"),
    ("SECRET_ARN", None),
    ("ALERTS_TABLE", "predicted_fraud; DROP TABLE x"),
    ("ALERTS_TABLE", '"PredictedFraud"'),
    ("DELIVERY_TABLE", "a.b.c"),
    ("DELIVERY_TABLE", "deli\nvery"),
    ("LOCAL_MAILER", "sendmail"),
    ("SMTP_PORT", "70000"),
    ("SMTP_STARTTLS", "maybe"),
]


@pytest.mark.parametrize(
    ("setting", "value"),
    BAD_SETTINGS,
    ids=[f"{setting}={value!r}"[:60] for setting, value in BAD_SETTINGS],
)
def test_a_bad_setting_is_named_in_the_error(setting: str, value: str | None) -> None:
    env = dict(AWS)
    if value is None:
        env.pop(setting)
    else:
        env[setting] = value

    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(env)

    assert setting in str(raised.value)
    assert "\n" not in str(raised.value).replace("\\n", "")


def test_every_missing_aws_setting_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError, match="SENDER_EMAIL, REDSHIFT_DATABASE missing"):
        Settings.from_env({"FRAUD_ALERTS_BACKEND": "aws"})


def test_a_workgroup_name_shorter_than_the_api_allows_is_refused() -> None:
    env = {k: v for k, v in AWS.items() if k not in ("REDSHIFT_CLUSTER_ID", "SECRET_ARN")}

    with pytest.raises(ConfigurationError, match="REDSHIFT_WORKGROUP"):
        Settings.from_env({**env, "REDSHIFT_WORKGROUP": "w1"})


def test_cluster_and_workgroup_are_exclusive() -> None:
    with pytest.raises(ConfigurationError, match=r"REDSHIFT_CLUSTER_ID.*REDSHIFT_WORKGROUP"):
        Settings.from_env({**AWS, "REDSHIFT_WORKGROUP": "fraud-wg"})


def test_one_of_cluster_and_workgroup_is_needed() -> None:
    env = {key: value for key, value in AWS.items() if key != "REDSHIFT_CLUSTER_ID"}

    with pytest.raises(ConfigurationError, match=r"REDSHIFT_CLUSTER_ID.*REDSHIFT_WORKGROUP"):
        Settings.from_env(env)


def test_a_template_directory_is_accepted_when_it_exists(tmp_path: Path) -> None:
    assert Settings.from_env({"TEMPLATE_DIR": str(tmp_path)}).template_dir == tmp_path


@pytest.mark.parametrize(
    "name",
    [
        "predicted_fraud; DROP TABLE x",
        "predicted_fraud--",
        "predicted_fraud\n",
        '"predicted_fraud"',
        "Public.Predicted_Fraud",
        "prédiction",
        "a.b.c",
        ".predicted_fraud",
        "1table",
        "t" * 64,
        "",
    ],
)
def test_only_plain_identifiers_are_table_names(name: str) -> None:
    with pytest.raises(InvalidTableNameError, match="ALERTS_TABLE"):
        TableNames(alerts=name)


@pytest.mark.parametrize("name", ["predicted_fraud", "public.predicted_fraud", "_s.t1", "t" * 63])
def test_plain_identifiers_are_accepted(name: str) -> None:
    assert TableNames(delivery=name).delivery == name


def test_every_value_in_the_ledger_sql_is_a_bound_parameter() -> None:
    ledger = LedgerSql(TableNames())
    deliveries: list[Delivery] = [
        Sent(HOSTILE, message_id=HOSTILE),
        Rejected(HOSTILE + "r", RejectReason.INVALID_EMAIL, detail=HOSTILE),
        Deferred(HOSTILE + "d", DeferReason.THROTTLED, detail=HOSTILE),
    ]
    statements = [
        ledger.claim(HOSTILE, 10, HOSTILE, HOSTILE, park_expired=True, register_new=True),
        ledger.claimed_rows(HOSTILE),
        ledger.record(HOSTILE, deliveries, HOSTILE),
        ledger.status(HOSTILE, 5),
    ]

    for bound in statements:
        assert all(HOSTILE not in sql for sql in bound.sqls)
        assert HOSTILE in bound.parameters.values()
        for name in bound.parameters:
            assert any(f":{name}" in sql for sql in bound.sqls), name
