"""Deployment settings and the Lambda packaging command: plain Python, no CDK, no network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import package_lambda
from infra.settings import (
    REPO_ROOT,
    SettingsError,
    StackSettings,
    load_settings,
    parse_settings,
    settings_from_file,
)

SECRET = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:redshift/fraud-alerts-AbCdEf"
WORKGROUP_ID = "0f3c1d2e-7a8b-4c5d-9e0f-112233445566"


def cluster_settings(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "sender_email": "alerts@cards.example.com",
        "redshift_cluster_id": "fraud-analytics",
        "redshift_database": "analytics",
        "secret_arn": SECRET,
    }
    raw.update(overrides)
    return raw


def test_minimal_cluster_settings_take_the_documented_defaults() -> None:
    settings = parse_settings(cluster_settings())

    assert settings.statement_name_prefix == "fraud-model:"
    assert settings.alerts_table == "public.predicted_fraud"
    assert settings.delivery_table == "public.fraud_alert_delivery"
    assert settings.delivery_policy == "at_least_once"
    assert settings.reserved_concurrency == 1
    assert settings.sweep_rate_minutes == 5
    assert settings.retry_attempts == 2
    assert settings.lambda_asset_dir == REPO_ROOT / "build" / "lambda"
    assert settings.sending_identity == "cards.example.com"
    assert not settings.uses_serverless


def test_the_example_file_is_valid_and_sets_every_known_setting() -> None:
    example = REPO_ROOT / "infra" / "settings.example.json"

    settings = settings_from_file(example)

    documented = set(json.loads(example.read_text(encoding="utf-8")))
    assert documented == set(StackSettings.__dataclass_fields__)
    assert settings.ses_configuration_set == "fraud-alerts"


def test_serverless_without_a_secret_is_accepted() -> None:
    settings = parse_settings(
        cluster_settings(
            redshift_cluster_id=None,
            secret_arn=None,
            redshift_workgroup="fraud",
            redshift_workgroup_id=WORKGROUP_ID,
        )
    )

    assert settings.uses_serverless
    assert settings.secret_arn is None


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"sender_email": None}, "sender_email"),
        ({"sender_email": "not-an-address"}, "sender_email"),
        (
            {"redshift_workgroup": "fraud", "redshift_workgroup_id": WORKGROUP_ID},
            "redshift_cluster_id",
        ),
        ({"redshift_cluster_id": None}, "redshift_cluster_id"),
        ({"secret_arn": None}, "secret_arn"),
        ({"secret_arn": "arn:aws:s3:::bucket"}, "secret_arn"),
        ({"redshift_cluster_id": None, "redshift_workgroup": "fraud"}, "redshift_workgroup_id"),
        ({"delivery_policy": "exactly_once"}, "delivery_policy"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "50"}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"retry_attempts": 3}, "retry_attempts"),
        ({"log_retention_days": 31}, "log_retention_days"),
        ({"timeout_seconds": 300}, "timeout_seconds"),
        ({"claim_lease_seconds": 240}, "claim_lease_seconds"),
        ({"send_rate_cap": 0}, "send_rate_cap"),
        ({"alerts_table": "predicted_fraud; drop table x"}, "alerts_table"),
        ({"log_level": "LOUD"}, "log_level"),
        ({"account": "1234"}, "account"),
        ({"sender_emial": "typo@example.com"}, "sender_emial"),
    ],
)
def test_a_bad_setting_is_named_in_the_error(overrides: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{named}: "):
        parse_settings(cluster_settings(**overrides))


def test_context_may_carry_the_settings_as_an_object_or_a_json_string() -> None:
    as_object = load_settings({"fraud-alerts": cluster_settings()}.get)
    as_string = load_settings({"fraud-alerts": json.dumps(cluster_settings())}.get)

    assert as_object == as_string


def test_a_settings_file_wins_over_inline_context(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(cluster_settings(batch_size=7)), encoding="utf-8")
    context = {"settings": str(path), "fraud-alerts": cluster_settings(batch_size=9)}

    assert load_settings(context.get).batch_size == 7


def test_missing_settings_say_how_to_pass_them() -> None:
    empty: dict[str, object] = {}

    with pytest.raises(SettingsError, match=r"^settings: no settings given"):
        load_settings(empty.get)


def test_an_unreadable_settings_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^settings: cannot read"):
        settings_from_file(tmp_path / "absent.json")


def test_packaging_installs_only_arm64_wheels_for_the_runtime_interpreter(tmp_path: Path) -> None:
    build, install = package_lambda.pip_commands(REPO_ROOT, tmp_path / "wheels", tmp_path / "out")

    assert build[-4:] == ["--no-deps", "--wheel-dir", str(tmp_path / "wheels"), str(REPO_ROOT)]
    assert install[install.index("--platform") + 1] == "manylinux2014_aarch64"
    assert install[install.index("--python-version") + 1] == package_lambda.PYTHON_VERSION
    assert "--only-binary=:all:" in install
    assert install[install.index("--target") + 1] == str(tmp_path / "out")
    # No extras: the local/test/infra dependencies must never reach the function.
    assert not any("[" in part for part in build + install)
