"""`FraudAlertsStack`: the one Lambda function that sends fraud alerts, and what it needs.

Created here: the function and its role, the triggers (Data API status-change rule and the
scheduled sweep), a dead-letter queue, the Powertools idempotency table, the log group, alarms,
an optional alarm topic and a dashboard. Referenced, never created: the Redshift cluster or
Serverless workgroup, its database secret, the SES identity and configuration set.
"""

from __future__ import annotations

from typing import Any, Final, cast

from aws_cdk import (
    ArnFormat,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.settings import StackSettings

HANDLER: Final = "handlers.lambda_entry.handler"
# Moved together with PYTHON_VERSION in infra/package_lambda.py: the packaged wheels are built
# for exactly this interpreter (a test keeps the two in step).
RUNTIME: Final = lambda_.Runtime.PYTHON_3_13
SERVICE_NAME: Final = "fraud-alerts"
METRICS_NAMESPACE: Final = "FraudAlerts"
DATA_API_EVENT_SOURCE: Final = "aws.redshift-data"
DATA_API_EVENT_TYPE: Final = "Redshift Data Statement Status Change"
TERMINAL_STATES: Final = ("FINISHED", "FAILED", "ABORTED")

# Actions AWS authorises only against "*" (no resource-level permissions in the Service
# Authorization Reference). A test holds every "*" resource in the stack to this list.
ACTIONS_WITHOUT_RESOURCE_SCOPE: Final = frozenset(
    {
        "redshift-data:DescribeStatement",
        "redshift-data:GetStatementResult",
        "redshift-data:CancelStatement",
        "ses:GetAccount",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
)

_ALARM_PERIOD: Final = Duration.minutes(5)


def function_environment(settings: StackSettings, idempotency_table: str) -> dict[str, str]:
    """The environment the handlers read; optional settings are left out rather than empty."""
    environment = {
        "SENDER_EMAIL": settings.sender_email,
        "SENDER_NAME": settings.sender_name,
        "REDSHIFT_DATABASE": settings.redshift_database,
        "STATEMENT_NAME_PREFIX": settings.statement_name_prefix,
        "ALERTS_TABLE": settings.alerts_table,
        "DELIVERY_TABLE": settings.delivery_table,
        "BATCH_SIZE": str(settings.batch_size),
        "DELIVERY_POLICY": settings.delivery_policy,
        "CLAIM_LEASE_SECONDS": str(settings.claim_lease_seconds),
        "IDEMPOTENCY_TABLE": idempotency_table,
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "LOG_LEVEL": settings.log_level,
    }
    optional = {
        "REDSHIFT_CLUSTER_ID": settings.redshift_cluster_id,
        "REDSHIFT_WORKGROUP": settings.redshift_workgroup,
        "SECRET_ARN": settings.secret_arn,
        "SES_CONFIGURATION_SET": settings.ses_configuration_set,
        "SEND_RATE_CAP": None if settings.send_rate_cap is None else str(settings.send_rate_cap),
    }
    environment.update({key: value for key, value in optional.items() if value is not None})
    return environment


class FraudAlertsStack(Stack):
    """Deploys fraud-alerts against an existing Redshift warehouse and SES identity."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings

        self.idempotency_table = self._idempotency_table()
        self.dead_letter_queue = self._dead_letter_queue()
        self.log_group = self._log_group()
        self.role = self._function_role()
        self.function = self._function()

        self._add_triggers()
        self.alarm_topic = self._alarm_topic()
        self.alarms = self._alarms()
        self._dashboard()
        self._outputs()
        self._suppress_reviewed_findings()

    def _log_group(self) -> logs.LogGroup:
        log_group = logs.LogGroup(
            self,
            "FunctionLogs",
            # The logs are the audit trail of what was sent: they outlive the stack and expire
            # by retention alone.
            removal_policy=RemovalPolicy.RETAIN,
        )
        # RetentionDays is an enum of names in the Python binding; the settings hold a number
        # of days already checked against the values CloudWatch Logs accepts.
        cfn_log_group = cast(logs.CfnLogGroup, log_group.node.default_child)
        cfn_log_group.retention_in_days = self.settings.log_retention_days
        return log_group

    def _idempotency_table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Records expire within hours by TTL; nothing in the table is worth keeping after
            # the function that wrote it is gone.
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _dead_letter_queue(self) -> sqs.Queue:
        # One queue for both failure paths: events EventBridge could not deliver to the
        # function (target DLQ) and invocations that failed after their retries (async
        # on-failure destination). Each message says which it is, so one alarm covers both.
        return sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )

    def _function_role(self) -> iam.Role:
        # A role of our own rather than the one Lambda would create: that one carries the
        # AWSLambdaBasicExecutionRole managed policy, which may write to any log group.
        role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="fraud-alerts: read predicted fraud from Redshift, email customers",
        )
        for statement in self._policy_statements():
            role.add_to_policy(statement)
        return role

    def _policy_statements(self) -> list[iam.PolicyStatement]:
        statements = [
            # Write the function's own logs, to its own log group only.
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
            # Run the claim / record SQL on the one warehouse the alerts live in.
            iam.PolicyStatement(
                sid="RunStatementsOnWarehouse",
                actions=["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"],
                resources=[self._warehouse_arn()],
            ),
            # Poll and read back statements. These actions have no resource type, so AWS
            # requires "*"; the condition limits them to statements this role's session ran
            # (the fraud model's own statements stay unreadable).
            iam.PolicyStatement(
                sid="ReadOwnStatements",
                actions=[
                    "redshift-data:DescribeStatement",
                    "redshift-data:GetStatementResult",
                    "redshift-data:CancelStatement",
                ],
                resources=["*"],
                conditions={
                    "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
                },
            ),
            # Send from the verified identity (and through the configuration set, when one is
            # named: SES authorises the send against both).
            iam.PolicyStatement(
                sid="SendFromVerifiedIdentity",
                actions=["ses:SendEmail", "ses:SendRawEmail"],
                resources=self._ses_arns(),
            ),
            # Read the account's sending quota and whether sending is enabled, to pace sends.
            # GetAccount has no resource type: AWS requires "*".
            iam.PolicyStatement(
                sid="ReadSendingQuota", actions=["ses:GetAccount"], resources=["*"]
            ),
            # Powertools Idempotency keeps its records here; item access only, no scans.
            iam.PolicyStatement(
                sid="IdempotencyRecords",
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                resources=[self.idempotency_table.table_arn],
            ),
        ]
        statements.extend(self._warehouse_credential_statements())
        return statements

    def _warehouse_credential_statements(self) -> list[iam.PolicyStatement]:
        settings = self.settings
        statements = []
        if settings.secret_arn is not None:
            # The Data API fetches the database credentials with the caller's permissions.
            statements.append(
                iam.PolicyStatement(
                    sid="ReadWarehouseSecret",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[settings.secret_arn],
                )
            )
        elif settings.uses_serverless:
            # Without a secret, Serverless maps this role to a database user through
            # temporary credentials for the one workgroup.
            statements.append(
                iam.PolicyStatement(
                    sid="WorkgroupTemporaryCredentials",
                    actions=["redshift-serverless:GetCredentials"],
                    resources=[self._warehouse_arn()],
                )
            )
        return statements

    def _warehouse_arn(self) -> str:
        settings = self.settings
        if settings.redshift_workgroup_id is not None:
            return self.format_arn(
                service="redshift-serverless",
                resource="workgroup",
                resource_name=settings.redshift_workgroup_id,
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
        return self.format_arn(
            service="redshift",
            resource="cluster",
            resource_name=settings.redshift_cluster_id,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _ses_arns(self) -> list[str]:
        settings = self.settings
        arns = [
            self.format_arn(
                service="ses",
                resource="identity",
                resource_name=settings.sending_identity,
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
        ]
        if settings.ses_configuration_set is not None:
            arns.append(
                self.format_arn(
                    service="ses",
                    resource="configuration-set",
                    resource_name=settings.ses_configuration_set,
                    arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                )
            )
        return arns

    def _function(self) -> lambda_.Function:
        settings = self.settings
        return lambda_.Function(
            self,
            "Function",
            description="fraud-alerts: claim flagged transactions and email each customer once",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(settings.lambda_asset_dir)),
            role=self.role,
            log_group=self.log_group,
            environment=function_environment(settings, self.idempotency_table.table_name),
            tracing=lambda_.Tracing.ACTIVE,
            # 512 MB: the sender's thread pool holds several TLS connections to SES and every
            # message of a batch is built as MIME in memory; Lambda also scales CPU with
            # memory, and rendering plus TLS is CPU-bound. The default 128 MB leaves no margin.
            memory_size=settings.memory_mb,
            # Shorter than the sweep period (checked in settings), so a sweep that runs to its
            # limit has ended before the next is due; the handler stops claiming new batches
            # when its remaining time runs low, well before this hard stop.
            timeout=Duration.seconds(settings.timeout_seconds),
            # One instance at a time: event-driven runs and sweeps then share one sending pace
            # and cannot together outrun the SES quota. An invocation arriving during a run is
            # throttled and retried by Lambda's async queue, up to max_event_age.
            reserved_concurrent_executions=settings.reserved_concurrency,
            max_event_age=Duration.seconds(settings.max_event_age_seconds),
            retry_attempts=settings.retry_attempts,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )

    def _add_triggers(self) -> None:
        settings = self.settings
        model_runs = events.Rule(
            self,
            "ModelRunStatusChange",
            description="The fraud model's scoring statement reached a terminal state",
            event_pattern=events.EventPattern(
                source=[DATA_API_EVENT_SOURCE],
                detail_type=[DATA_API_EVENT_TYPE],
                detail={
                    "state": list(TERMINAL_STATES),
                    "statementName": events.Match.prefix(settings.statement_name_prefix),
                },
            ),
        )
        model_runs.add_target(self._function_target())

        # A scheduled rule rather than EventBridge Scheduler: rule targets take the same retry
        # policy and DLQ, the handler already routes the rule's "Scheduled Event" shape, and a
        # flexible time window buys nothing for a fallback sweep that runs every few minutes.
        sweep = events.Rule(
            self,
            "SweepSchedule",
            description="Fallback sweep for alerts whose status-change event never arrived",
            schedule=events.Schedule.rate(Duration.minutes(settings.sweep_rate_minutes)),
        )
        sweep.add_target(self._function_target())

    def _function_target(self) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            self.function,
            dead_letter_queue=self.dead_letter_queue,
            max_event_age=Duration.seconds(self.settings.max_event_age_seconds),
            retry_attempts=self.settings.retry_attempts,
        )

    def _alarm_topic(self) -> sns.Topic | None:
        if self.settings.alarm_email is None:
            return None
        # Not KMS-encrypted: CloudWatch alarms cannot publish to a topic under the AWS managed
        # SNS key, and a notification carries alarm names and metric values, no customer data.
        topic = sns.Topic(self, "AlarmTopic", enforce_ssl=True)
        topic.add_subscription(subscriptions.EmailSubscription(self.settings.alarm_email))
        return topic

    def _alarms(self) -> list[cloudwatch.Alarm]:
        alarms = [*self._function_alarms(), *self._business_alarms()]
        if self.alarm_topic is not None:
            for alarm in alarms:
                alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))
        return alarms

    def _function_alarms(self) -> list[cloudwatch.Alarm]:
        settings = self.settings
        function = self.function
        sweep_window = Duration.minutes(min(3 * settings.sweep_rate_minutes, 1440))
        return [
            self._alarm(
                "FunctionErrors",
                function.metric_errors(period=_ALARM_PERIOD, statistic="Sum"),
                threshold=0,
                description="The function failed (each failure is retried, then dead-lettered)",
            ),
            # With one reserved instance, a throttle whenever an event lands during a sweep is
            # expected; only throttling that persists for three periods is news.
            self._alarm(
                "FunctionThrottles",
                function.metric_throttles(period=_ALARM_PERIOD, statistic="Sum"),
                threshold=settings.lambda_throttles_threshold,
                evaluation_periods=3,
                description="Invocations keep queueing behind the single reserved instance",
            ),
            self._alarm(
                "DeadLetters",
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=_ALARM_PERIOD, statistic="Maximum"
                ),
                threshold=0,
                description="Events or invocations were dead-lettered: inspect and redrive",
            ),
            # No invocation in three sweep periods means the schedule itself has stopped.
            self._alarm(
                "SweepNotRunning",
                function.metric_invocations(period=sweep_window, statistic="Sum"),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                missing=cloudwatch.TreatMissingData.BREACHING,
                description="The function has not run for three sweep periods",
            ),
        ]

    def _business_alarms(self) -> list[cloudwatch.Alarm]:
        settings = self.settings
        return [
            self._alarm(
                "AlertsRejected",
                _service_metric("AlertsRejected", "Sum"),
                threshold=settings.alerts_rejected_threshold,
                description="SES rejected more alerts than expected (bad addresses, suppression)",
            ),
            self._alarm(
                "SendThrottled",
                _service_metric("SendThrottled", "Sum"),
                threshold=settings.send_throttled_threshold,
                description="SES throttled sends: the pace is above the account's quota",
            ),
            self._alarm(
                "SendingHalted",
                _service_metric("SendingHalted", "Sum"),
                threshold=0,
                description="Sending stopped: SES reports sending disabled or quota exhausted",
            ),
            self._alarm(
                "OldestPendingAlertAge",
                _service_metric("OldestPendingAlertAgeSeconds", "Maximum"),
                threshold=settings.oldest_pending_alert_age_threshold_seconds,
                description="Customers are waiting too long for their fraud alert",
            ),
            self._alarm(
                "UnknownAlerts",
                _service_metric("UnknownAlerts", "Sum"),
                threshold=0,
                description="Alerts in a state the sweep does not recognise: look at them by hand",
            ),
        ]

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        ),
        # Powertools emits a metric only in runs that had something to count.
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=description,
        )

    def _dashboard(self) -> None:
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        dashboard.add_widgets(
            _graph("Alerts", [("AlertsSent", "Sum"), ("AlertsRejected", "Sum"),
                              ("AlertsDeferred", "Sum")]),
            _graph("Batches and SES throttling", [("Batches", "Sum"), ("SendThrottled", "Sum")]),
            _graph("Run duration (s)", [("RunDurationSeconds", "Maximum"),
                                        ("RunDurationSeconds", "Average")]),
        )  # fmt: skip
        dashboard.add_widgets(
            _graph("Backlog", [("OldestPendingAlertAgeSeconds", "Maximum"),
                               ("UnknownAlerts", "Sum")]),
            cloudwatch.GraphWidget(
                title="Function",
                left=[
                    self.function.metric_invocations(statistic="Sum"),
                    self.function.metric_errors(statistic="Sum"),
                    self.function.metric_throttles(statistic="Sum"),
                ],
                right=[self.dead_letter_queue.metric_approximate_number_of_messages_visible()],
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms)),
        )  # fmt: skip
        self.dashboard = dashboard

    def _outputs(self) -> None:
        CfnOutput(self, "FunctionName", value=self.function.function_name)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.dead_letter_queue.queue_url)
        CfnOutput(self, "IdempotencyTableName", value=self.idempotency_table.table_name)
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard_name)

    def _suppress_reviewed_findings(self) -> None:
        """Findings of the AwsSolutions pack that were reviewed and accepted, each with why."""
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Resource '*' appears only on actions AWS cannot scope to a resource: "
                        "redshift-data Describe/GetStatementResult/CancelStatement (limited to "
                        "this role's own statements by condition), ses:GetAccount and the X-Ray "
                        "PutTraceSegments/PutTelemetryRecords that active tracing adds; "
                        "tests/infra/test_stack.py holds every '*' to that list"
                    ),
                    applies_to=["Resource::*"],
                )
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason=(
                        "The runtime is pinned to the interpreter infra/package_lambda.py builds "
                        "the dependency wheels for; both move together, deliberately, after the "
                        "test suite has run on the new version"
                    ),
                )
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.dead_letter_queue,
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason=(
                        "This queue is itself the dead-letter queue of the EventBridge targets "
                        "and of the function's async invocations; a DLQ of a DLQ adds nothing"
                    ),
                )
            ],
        )


def _service_metric(name: str, statistic: str) -> cloudwatch.Metric:
    """A Powertools metric: namespace and `service` dimension as the handlers publish them."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=_ALARM_PERIOD,
    )


def _graph(title: str, metrics: list[tuple[str, str]]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=[_service_metric(name, statistic) for name, statistic in metrics],
        width=8,
    )
