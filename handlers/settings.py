"""Every setting fraud-alerts reads, parsed and checked in one place, once, at start-up.

An explicit value beats the environment. A missing or malformed setting stops start-up with a
`ConfigurationError` that names the setting and says how to fix it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email

from adapters.redshift.alert_source import DeliveryPolicy
from adapters.redshift.tables import InvalidTableNameError, TableNames

E = TypeVar("E", bound=StrEnum)


class ConfigurationError(ValueError):
    """A setting is missing or malformed; the message names it and the fix."""


class Backend(StrEnum):
    """`aws`: Redshift Data API and SES. `local`: the embedded warehouse and a local mailer."""

    AWS = "aws"
    LOCAL = "local"


class LocalMailerKind(StrEnum):
    OUTBOX = "outbox"
    SMTP = "smtp"


_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
_CLUSTER_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_DATABASE = re.compile(r"^[a-z_][a-z0-9_$]{0,126}$")
# The service models' own limits: a workgroup name is 3-64 lower-case letters, digits and
# hyphens; an SES configuration set and a DynamoDB table name have their own alphabets.
_WORKGROUP = re.compile(r"^[a-z0-9-]{3,64}$")
_CONFIGURATION_SET = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DYNAMODB_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
# Settings an AWS run cannot start without; all missing ones are named in one message.
_REQUIRED_ON_AWS = ("SENDER_EMAIL", "REDSHIFT_DATABASE")


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration. See the README's settings table for each one's meaning."""

    backend: Backend
    sender_email: str
    sender_name: str
    tables: TableNames
    statement_name_prefix: str
    batch_size: int
    claim_lease_seconds: int
    max_deferrals: int
    delivery_policy: DeliveryPolicy
    send_rate_cap: float | None
    template_dir: Path | None
    email_locale: str
    # AWS
    redshift_database: str | None
    redshift_cluster_id: str | None
    redshift_workgroup: str | None
    secret_arn: str | None
    ses_configuration_set: str | None
    idempotency_table: str | None
    # Local
    local_warehouse: Path
    local_mailer: LocalMailerKind
    outbox_dir: Path
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse `env` (default: the process environment)."""
        reader = _Reader(os.environ if env is None else env)
        in_lambda = bool(reader.raw("AWS_LAMBDA_FUNCTION_NAME"))
        backend = reader.choice(
            "FRAUD_ALERTS_BACKEND", Backend, Backend.AWS if in_lambda else Backend.LOCAL
        )
        on_aws = backend is Backend.AWS
        if on_aws:
            reader.require(_REQUIRED_ON_AWS)

        settings = cls(
            backend=backend,
            sender_email=reader.email("SENDER_EMAIL", None if on_aws else "alerts@bank.example"),
            sender_name=reader.text("SENDER_NAME", "Card Security", max_length=64),
            tables=reader.tables(on_aws),
            statement_name_prefix=reader.text(
                "STATEMENT_NAME_PREFIX", "fraud-model:", max_length=128
            ),
            batch_size=reader.integer("BATCH_SIZE", 100, low=1, high=500),
            claim_lease_seconds=reader.integer("CLAIM_LEASE_SECONDS", 960, low=60, high=86_400),
            max_deferrals=reader.integer("MAX_DEFERRALS", 5, low=1, high=1000),
            delivery_policy=reader.choice(
                "DELIVERY_POLICY", DeliveryPolicy, DeliveryPolicy.AT_LEAST_ONCE
            ),
            send_rate_cap=reader.positive_float("SEND_RATE_CAP"),
            template_dir=reader.directory("TEMPLATE_DIR"),
            email_locale=reader.locale("EMAIL_LOCALE", "en_GB"),
            redshift_database=reader.matching(
                "REDSHIFT_DATABASE", _DATABASE, required=on_aws, hint="the database name, e.g. dev"
            ),
            redshift_cluster_id=reader.matching(
                "REDSHIFT_CLUSTER_ID", _CLUSTER_ID, hint="the provisioned cluster's identifier"
            ),
            redshift_workgroup=reader.matching(
                "REDSHIFT_WORKGROUP",
                _WORKGROUP,
                hint="the Redshift Serverless workgroup name (3-64 of a-z, 0-9 and -)",
            ),
            secret_arn=reader.matching(
                "SECRET_ARN",
                _SECRET_ARN,
                hint="the ARN of the Secrets Manager secret of the database user",
            ),
            ses_configuration_set=reader.matching(
                "SES_CONFIGURATION_SET",
                _CONFIGURATION_SET,
                hint="an SES configuration set name (letters, digits, _ and -, up to 64)",
            ),
            idempotency_table=reader.matching(
                "IDEMPOTENCY_TABLE",
                _DYNAMODB_TABLE,
                hint="a DynamoDB table name (3-255 of letters, digits, _, . and -)",
            ),
            local_warehouse=Path(
                reader.text("LOCAL_WAREHOUSE", ".fraud-alerts/warehouse.duckdb", max_length=4096)
            ),
            local_mailer=reader.choice("LOCAL_MAILER", LocalMailerKind, LocalMailerKind.OUTBOX),
            outbox_dir=Path(reader.text("OUTBOX_DIR", ".fraud-alerts/outbox", max_length=4096)),
            smtp_host=reader.text("SMTP_HOST", "127.0.0.1", max_length=255),
            smtp_port=reader.integer("SMTP_PORT", 1025, low=1, high=65535),
            smtp_starttls=reader.flag("SMTP_STARTTLS", default=False),
        )
        if on_aws:
            _check_warehouse_target(settings)
        return settings


def _check_warehouse_target(settings: Settings) -> None:
    cluster, workgroup = settings.redshift_cluster_id, settings.redshift_workgroup
    if bool(cluster) == bool(workgroup):
        raise ConfigurationError(
            "set exactly one of REDSHIFT_CLUSTER_ID (a provisioned cluster) and REDSHIFT_WORKGROUP"
            " (Redshift Serverless)"
        )
    if cluster and not settings.secret_arn:
        raise ConfigurationError(
            "SECRET_ARN is missing: a provisioned cluster is reached with the database user's"
            " credentials in Secrets Manager; set SECRET_ARN to that secret's ARN"
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def raw(self, name: str) -> str | None:
        value = self._env.get(name)
        return value.strip() if value and value.strip() else None

    def require(self, names: tuple[str, ...]) -> None:
        missing = [name for name in names if self.raw(name) is None]
        if missing:
            raise ConfigurationError(
                f"{', '.join(missing)} missing: on AWS set SENDER_EMAIL to the SES-verified"
                " sender and REDSHIFT_DATABASE to the database name (see the README's settings)"
            )

    def text(self, name: str, default: str, *, max_length: int) -> str:
        value = self.raw(name) or default
        if len(value) > max_length or any(ch in value for ch in "\r\n\0"):
            raise ConfigurationError(f"{name} must be one line of at most {max_length} characters")
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigurationError(f"{name}={value!r} is not a whole number") from None
        if not low <= number <= high:
            raise ConfigurationError(f"{name}={number} is out of range: use {low} to {high}")
        return number

    def positive_float(self, name: str) -> float | None:
        value = self.raw(name)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            raise ConfigurationError(f"{name}={value!r} is not a number") from None
        if not number > 0 or number == float("inf"):
            raise ConfigurationError(
                f"{name}={value!r} must be a positive number of emails per second"
            )
        return number

    def flag(self, name: str, *, default: bool) -> bool:
        value = (self.raw(name) or "").lower()
        if not value:
            return default
        if value not in {"true", "false", "1", "0", "yes", "no"}:
            raise ConfigurationError(f"{name}={value!r} must be true or false")
        return value in {"true", "1", "yes"}

    def choice(self, name: str, kind: type[E], default: E) -> E:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return kind(value.lower())
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise ConfigurationError(f"{name}={value!r} is not one of: {allowed}") from None

    def email(self, name: str, default: str | None) -> str:
        value = self.raw(name) or default
        if value is None:
            raise ConfigurationError(
                f"{name} is missing: set it to the SES-verified address alerts are sent from"
            )
        try:
            return validate_email(
                value, check_deliverability=False, allow_smtputf8=False
            ).normalized
        except EmailNotValidError as exc:
            raise ConfigurationError(f"{name}={value!r} is not a usable address: {exc}") from None

    def matching(
        self, name: str, pattern: re.Pattern[str], *, hint: str, required: bool = False
    ) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                raise ConfigurationError(f"{name} is missing: set it to {hint}")
            return None
        if not pattern.fullmatch(value):
            raise ConfigurationError(f"{name} is malformed: it should be {hint}")
        return value

    def locale(self, name: str, default: str) -> str:
        value = self.raw(name) or default
        try:
            Locale.parse(value)
        except (ValueError, UnknownLocaleError):
            raise ConfigurationError(
                f"{name}={value!r} is not a locale: use a code such as en_GB, de_DE or ja_JP"
            ) from None
        return value

    def directory(self, name: str) -> Path | None:
        value = self.raw(name)
        if value is None:
            return None
        path = Path(value)
        if not path.is_dir():
            raise ConfigurationError(f"{name}={value!r} is not a directory of templates")
        return path

    def tables(self, on_aws: bool) -> TableNames:
        # DuckDB has no `public` schema, so the embedded default uses bare table names.
        defaults = TableNames() if on_aws else TableNames("predicted_fraud", "fraud_alert_delivery")
        try:
            return TableNames(
                alerts=self.raw("ALERTS_TABLE") or defaults.alerts,
                delivery=self.raw("DELIVERY_TABLE") or defaults.delivery,
            )
        except InvalidTableNameError as exc:
            raise ConfigurationError(str(exc)) from None
