"""Deployment settings for `FraudAlertsStack`, parsed and checked in one place.

Settings come from a JSON file named by the CDK context key `settings`
(`-c settings=settings.json`) or, failing that, from the object under the context key
`fraud-alerts` (in `cdk.json` or a `-c fraud-alerts='{...}'` argument). Every problem is reported
as a `SettingsError` whose message starts with the name of the setting at fault, before anything
is synthesised. `settings.example.json` beside this file lists every key with its default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final

SETTINGS_FILE_CONTEXT_KEY: Final = "settings"
SETTINGS_CONTEXT_KEY: Final = "fraud-alerts"
REPO_ROOT: Final = Path(__file__).resolve().parent.parent

DELIVERY_POLICIES: Final = frozenset({"at_least_once", "at_most_once"})
LOG_LEVELS: Final = frozenset({"DEBUG", "INFO", "WARNING", "ERROR"})

# The only values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
     3288, 3653}
)  # fmt: skip

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
_CLUSTER_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_WORKGROUP_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_SES_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SettingsError(ValueError):
    """A deployment setting is missing or invalid; the message starts with the setting's name."""


@dataclass(frozen=True)
class StackSettings:
    """Everything `FraudAlertsStack` needs to know about the account it deploys into.

    The Redshift warehouse, its secret and the SES identity already exist: the stack only
    references them. Exactly one of `redshift_cluster_id` (provisioned) and `redshift_workgroup`
    (Serverless) is set.
    """

    sender_email: str
    redshift_database: str
    lambda_asset_dir: Path
    redshift_cluster_id: str | None = None
    redshift_workgroup: str | None = None
    redshift_workgroup_id: str | None = None
    secret_arn: str | None = None
    sender_name: str = "Card Security"
    ses_identity: str | None = None
    ses_configuration_set: str | None = None
    statement_name_prefix: str = "fraud-model:"
    alerts_table: str = "public.predicted_fraud"
    delivery_table: str = "public.fraud_alert_delivery"
    batch_size: int = 50
    send_rate_cap: float | None = None
    delivery_policy: str = "at_least_once"
    claim_lease_seconds: int = 900
    log_level: str = "INFO"
    memory_mb: int = 512
    timeout_seconds: int = 240
    reserved_concurrency: int = 1
    sweep_rate_minutes: int = 5
    max_event_age_seconds: int = 3600
    retry_attempts: int = 2
    log_retention_days: int = 30
    alarm_email: str | None = None
    alerts_rejected_threshold: int = 10
    send_throttled_threshold: int = 5
    oldest_pending_alert_age_threshold_seconds: int = 1800
    lambda_throttles_threshold: int = 5
    account: str | None = None
    region: str | None = None

    @property
    def uses_serverless(self) -> bool:
        return self.redshift_workgroup is not None

    @property
    def sending_identity(self) -> str:
        """The SES identity the sender address is verified under: explicit, or its domain."""
        return self.ses_identity or self.sender_email.rpartition("@")[2]


def load_settings(try_get_context: Callable[[str], object]) -> StackSettings:
    """Read the settings from CDK context (`app.node.try_get_context`) and check them."""
    settings_file = try_get_context(SETTINGS_FILE_CONTEXT_KEY)
    if settings_file is not None:
        return settings_from_file(Path(str(settings_file)))

    inline = try_get_context(SETTINGS_CONTEXT_KEY)
    if inline is None:
        raise SettingsError(
            f"{SETTINGS_FILE_CONTEXT_KEY}: no settings given; pass -c settings=<file.json> "
            f"or set the context key {SETTINGS_CONTEXT_KEY!r}"
        )

    # A `-c key=value` argument arrives as a string, an object in cdk.json as a mapping.
    if isinstance(inline, str):
        inline = _json_object(inline, SETTINGS_CONTEXT_KEY)
    if not isinstance(inline, Mapping):
        raise SettingsError(f"{SETTINGS_CONTEXT_KEY}: expected a JSON object")
    return parse_settings(inline)


def settings_from_file(path: Path) -> StackSettings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{SETTINGS_FILE_CONTEXT_KEY}: cannot read {path}: {exc}") from exc
    return parse_settings(_json_object(text, SETTINGS_FILE_CONTEXT_KEY))


def parse_settings(raw: Mapping[str, object]) -> StackSettings:
    """Build `StackSettings` from a JSON object; unknown keys are rejected, not ignored."""
    known = {field.name for field in fields(StackSettings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(f"{unknown[0]}: unknown setting")

    reader = _Reader(raw)
    settings = StackSettings(
        sender_email=reader.text("sender_email", pattern=_EMAIL),
        redshift_database=reader.text("redshift_database"),
        lambda_asset_dir=reader.path("lambda_asset_dir", default="build/lambda"),
        redshift_cluster_id=reader.optional_text("redshift_cluster_id", pattern=_CLUSTER_ID),
        redshift_workgroup=reader.optional_text("redshift_workgroup"),
        redshift_workgroup_id=reader.optional_text("redshift_workgroup_id", pattern=_WORKGROUP_ID),
        secret_arn=reader.optional_text("secret_arn", pattern=_SECRET_ARN),
        sender_name=reader.text("sender_name", default="Card Security"),
        ses_identity=reader.optional_text("ses_identity"),
        ses_configuration_set=reader.optional_text("ses_configuration_set", pattern=_SES_NAME),
        statement_name_prefix=reader.text("statement_name_prefix", default="fraud-model:"),
        alerts_table=reader.text(
            "alerts_table", default="public.predicted_fraud", pattern=_TABLE_NAME
        ),
        delivery_table=reader.text(
            "delivery_table", default="public.fraud_alert_delivery", pattern=_TABLE_NAME
        ),
        batch_size=reader.integer("batch_size", default=50, low=1, high=1000),
        send_rate_cap=reader.optional_number("send_rate_cap"),
        delivery_policy=reader.choice(
            "delivery_policy", default="at_least_once", choices=DELIVERY_POLICIES
        ),
        claim_lease_seconds=reader.integer("claim_lease_seconds", default=900, low=60, high=86400),
        log_level=reader.choice("log_level", default="INFO", choices=LOG_LEVELS),
        memory_mb=reader.integer("memory_mb", default=512, low=128, high=10240),
        timeout_seconds=reader.integer("timeout_seconds", default=240, low=30, high=900),
        reserved_concurrency=reader.integer("reserved_concurrency", default=1, low=1, high=1000),
        sweep_rate_minutes=reader.integer("sweep_rate_minutes", default=5, low=1, high=1440),
        max_event_age_seconds=reader.integer(
            "max_event_age_seconds", default=3600, low=60, high=21600
        ),
        retry_attempts=reader.integer("retry_attempts", default=2, low=0, high=2),
        log_retention_days=reader.integer("log_retention_days", default=30, low=1, high=3653),
        alarm_email=reader.optional_text("alarm_email", pattern=_EMAIL),
        alerts_rejected_threshold=reader.integer("alerts_rejected_threshold", default=10, low=0),
        send_throttled_threshold=reader.integer("send_throttled_threshold", default=5, low=0),
        oldest_pending_alert_age_threshold_seconds=reader.integer(
            "oldest_pending_alert_age_threshold_seconds", default=1800, low=60
        ),
        lambda_throttles_threshold=reader.integer("lambda_throttles_threshold", default=5, low=0),
        account=reader.optional_text("account", pattern=_ACCOUNT),
        region=reader.optional_text("region", pattern=_REGION),
    )

    _check_consistency(settings)
    return settings


def _check_consistency(settings: StackSettings) -> None:
    _check_warehouse(settings)

    if settings.log_retention_days not in LOG_RETENTION_DAYS:
        raise SettingsError(
            f"log_retention_days: {settings.log_retention_days} is not a CloudWatch Logs "
            f"retention; use one of {sorted(LOG_RETENTION_DAYS)}"
        )

    # A sweep that runs to its timeout must have ended before the next one is due, or the
    # schedule piles throttled invocations up behind the single reserved instance.
    if settings.timeout_seconds >= settings.sweep_rate_minutes * 60:
        raise SettingsError(
            "timeout_seconds: must be shorter than sweep_rate_minutes "
            f"({settings.timeout_seconds} s >= {settings.sweep_rate_minutes} min)"
        )

    # A claim must outlive the invocation that holds it, or a second run could claim the same
    # alerts while the first is still sending them.
    if settings.claim_lease_seconds <= settings.timeout_seconds:
        raise SettingsError(
            "claim_lease_seconds: must be longer than timeout_seconds "
            f"({settings.claim_lease_seconds} <= {settings.timeout_seconds})"
        )

    if settings.send_rate_cap is not None and settings.send_rate_cap <= 0:
        raise SettingsError("send_rate_cap: must be a positive number of messages per second")


def _check_warehouse(settings: StackSettings) -> None:
    if (settings.redshift_cluster_id is None) == (settings.redshift_workgroup is None):
        raise SettingsError(
            "redshift_cluster_id: set exactly one of redshift_cluster_id (provisioned cluster) "
            "and redshift_workgroup (Redshift Serverless)"
        )

    if settings.redshift_cluster_id is not None:
        if settings.secret_arn is None:
            raise SettingsError("secret_arn: a provisioned cluster needs the database secret")
        if settings.redshift_workgroup_id is not None:
            raise SettingsError("redshift_workgroup_id: only used with redshift_workgroup")

    # The workgroup's IAM ARN is built from its id, not its name, so both are needed.
    if settings.redshift_workgroup is not None and settings.redshift_workgroup_id is None:
        raise SettingsError("redshift_workgroup_id: needed with redshift_workgroup (a UUID)")


def _json_object(text: str, setting: str) -> Mapping[str, object]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{setting}: not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise SettingsError(f"{setting}: expected a JSON object")
    return parsed


class _Reader:
    """Typed reads from the raw JSON object, each error naming the key it was reading."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self._raw = raw

    def _get(self, key: str) -> object:
        return self._raw.get(key)

    def optional_text(self, key: str, *, pattern: re.Pattern[str] | None = None) -> str | None:
        value = self._get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise SettingsError(f"{key}: expected a string, got {type(value).__name__}")
        if pattern is not None and not pattern.match(value):
            raise SettingsError(f"{key}: {value!r} is not in the expected format")
        return value

    def text(
        self, key: str, *, default: str | None = None, pattern: re.Pattern[str] | None = None
    ) -> str:
        value = self.optional_text(key, pattern=pattern)
        if value is not None:
            return value
        if default is None:
            raise SettingsError(f"{key}: required")
        return default

    def choice(self, key: str, *, default: str, choices: frozenset[str]) -> str:
        value = self.text(key, default=default)
        if value not in choices:
            raise SettingsError(f"{key}: {value!r} is not one of {sorted(choices)}")
        return value

    def path(self, key: str, *, default: str) -> Path:
        # Relative paths are taken from the repository root, wherever `cdk` is run from.
        path = Path(self.text(key, default=default))
        return path if path.is_absolute() else REPO_ROOT / path

    def integer(self, key: str, *, default: int, low: int, high: int | None = None) -> int:
        value = self._get(key)
        if value is None:
            return default
        # bool is an int subclass in Python; `true` is never a sensible count.
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{key}: expected an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            upper = "" if high is None else f" and at most {high}"
            raise SettingsError(f"{key}: {value} must be at least {low}{upper}")
        return value

    def optional_number(self, key: str) -> float | None:
        value = self._get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{key}: expected a number, got {value!r}")
        return float(value)
