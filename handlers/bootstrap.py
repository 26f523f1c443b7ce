"""The composition root: the only place adapters are built and wired to the domain.

`Runtime` holds what lives as long as the process (clients, the mailer with its thread pool and
rate limiter, the renderer); `Runtime.sweep` builds the per-run objects that need the run's
deadline. Nothing happens at import.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address
from typing import Any

from jinja2 import TemplateError

from adapters.clock import SystemClock
from adapters.redshift.alert_source import RedshiftDataAlertSource
from adapters.redshift.data_api import StatementRunner, WarehouseTarget
from adapters.redshift.migrations import apply_migrations
from adapters.redshift.secret import WarehouseSecretError, check_database_secret
from domain.ports import Clock, Deadline, Mailer, StatusReport
from domain.rendering import DEFAULT_TEMPLATES, AlertRenderer, Sender
from domain.sweep import Sweep, SweepCommand, SweepReport
from handlers.settings import Backend, ConfigurationError, LocalMailerKind, Settings

# The embedded warehouse answers to any target; this one passes the Data API's request checks.
LOCAL_TARGET = WarehouseTarget(database="dev", workgroup="fraud-alerts-local")
LOCAL_SERVER_WAIT_SECONDS = 0

# Concurrent SendEmail calls: at 50-100 ms each, 48 keep 500 a second in flight (16 capped
# the rate near 260/s in `make bench`). Idle threads cost next to nothing.
SES_WORKERS = 48


@dataclass
class Runtime:
    """Everything a process builds once."""

    settings: Settings
    clock: Clock
    data_api: Any
    mailer: Mailer
    renderer: AlertRenderer
    target: WarehouseTarget
    server_wait_seconds: int = 20

    def sweep(
        self,
        deadline: Deadline,
        run_id: str | None = None,
        progress: Callable[[SweepReport], None] | None = None,
    ) -> tuple[Sweep, SweepCommand]:
        """The use case and its command for one run."""
        source = self.alert_source(deadline)
        command = SweepCommand(
            run_id=run_id or uuid.uuid4().hex,
            batch_size=self.settings.batch_size,
            lease=timedelta(seconds=self.settings.claim_lease_seconds),
        )
        return Sweep(source, self.mailer, self.renderer, self.clock, progress=progress), command

    def alert_source(self, deadline: Deadline) -> RedshiftDataAlertSource:
        return RedshiftDataAlertSource(
            self.runner(),
            self.settings.tables,
            deadline=deadline,
            policy=self.settings.delivery_policy,
            clock=self.clock,
        )

    def runner(self) -> StatementRunner:
        return StatementRunner(
            self.data_api, self.target, self.clock, wait_seconds=self.server_wait_seconds
        )

    def status(self, deadline: Deadline) -> StatusReport:
        return self.alert_source(deadline).status(self.clock.now(), self.settings.max_deferrals)

    def migrate(self, deadline: Deadline) -> list[str]:
        return apply_migrations(self.runner(), self.settings.tables, deadline)


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    data_api: Any = None,
    mailer: Mailer | None = None,
) -> Runtime:
    """Wire the adapters `settings` name; explicit arguments (tests, benchmarks) win."""
    clock = clock or SystemClock()
    try:
        renderer = AlertRenderer(
            Sender(settings.sender_email, settings.sender_name),
            template_dir=settings.template_dir or DEFAULT_TEMPLATES,
            locale=settings.email_locale,
        )
    except TemplateError as exc:
        raise ConfigurationError(
            f"TEMPLATE_DIR={str(settings.template_dir)!r} lacks a template ({exc}): it needs"
            " alert.txt.j2, alert.html.j2 and subject.txt.j2"
        ) from None
    wait = 20
    _check_templates(renderer, settings, clock)
    if settings.backend is Backend.AWS:
        target = WarehouseTarget(
            database=settings.redshift_database or "",
            cluster_id=settings.redshift_cluster_id,
            secret_arn=settings.secret_arn,
            workgroup=settings.redshift_workgroup,
        )
        if data_api is None:
            if settings.secret_arn:
                _check_secret(settings)
            data_api = _redshift_data_client()
        mailer = mailer or _ses_mailer(settings, clock)
    else:
        target = LOCAL_TARGET
        wait = LOCAL_SERVER_WAIT_SECONDS
        data_api = data_api or local_data_api(settings, clock)
        mailer = mailer or _local_mailer(settings, clock)
    return Runtime(settings, clock, data_api, mailer, renderer, target, server_wait_seconds=wait)


def _check_templates(renderer: AlertRenderer, settings: Settings, clock: Clock) -> None:
    try:
        renderer.self_check(clock.now())
    except (TemplateError, ValueError) as exc:
        where = (
            f"TEMPLATE_DIR={str(settings.template_dir)!r}"
            if settings.template_dir
            else "the templates"
        )
        raise ConfigurationError(
            f"{where} cannot render an alert ({type(exc).__name__}: {exc}); check the files"
            " alert.txt.j2, alert.html.j2 and subject.txt.j2 and the variables they use"
        ) from None


def _check_secret(settings: Settings) -> None:
    try:
        check_database_secret(settings.secret_arn or "", settings.redshift_cluster_id)
    except WarehouseSecretError as exc:
        raise ConfigurationError(str(exc)) from None


def local_data_api(settings: Settings, clock: Clock) -> Any:
    """The embedded warehouse behind the Data API stand-in (imported only when used)."""
    from adapters.local_warehouse.data_api import LocalDataApiClient

    settings.local_warehouse.parent.mkdir(parents=True, exist_ok=True)
    return LocalDataApiClient(settings.local_warehouse, clock=clock)


def _redshift_data_client() -> Any:
    import boto3
    from botocore.config import Config

    # The adapter retries (with deadlines); botocore's own retries would multiply them.
    config = Config(retries={"mode": "standard", "total_max_attempts": 2}, read_timeout=40)
    return boto3.client("redshift-data", config=config)


def _ses_mailer(settings: Settings, clock: Clock) -> Mailer:
    import boto3

    from adapters.mail.ses import SesMailer, ses_client_config

    client = boto3.client("sesv2", config=ses_client_config(SES_WORKERS))
    return SesMailer(
        client,
        sender=str(Address(display_name=settings.sender_name, addr_spec=settings.sender_email)),
        configuration_set=settings.ses_configuration_set,
        rate_cap=settings.send_rate_cap,
        clock=clock,
        max_workers=SES_WORKERS,
        # Longer than the client's read timeout, so no call started runs past the deadline.
        deadline_margin_seconds=6.0,
    )


def _local_mailer(settings: Settings, clock: Clock) -> Mailer:
    if settings.local_mailer is LocalMailerKind.SMTP:
        from adapters.mail.smtp import SmtpMailer

        return SmtpMailer(
            settings.smtp_host, settings.smtp_port, clock=clock, starttls=settings.smtp_starttls
        )

    from adapters.mail.outbox import OutboxMailer

    return OutboxMailer(settings.outbox_dir, clock=clock)
