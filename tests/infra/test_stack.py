"""Synthesise `FraudAlertsStack` offline and check what it would deploy.

Two syntheses per module (a provisioned cluster with every option set, and Redshift Serverless
with none), each against a one-file asset directory: the real Lambda package is never built here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_cdk", reason="the infra extra (aws-cdk-lib, cdk-nag) is not installed")

from aws_cdk import Stack
from aws_cdk.assertions import Annotations, Match, Template
from cfnlint.api import ManualArgs, lint

from infra import package_lambda
from infra.app import STACK_NAME, build_app
from infra.stack import (
    ACTIONS_WITHOUT_RESOURCE_SCOPE,
    HANDLER,
    RUNTIME,
    TERMINAL_STATES,
)

pytestmark = pytest.mark.slow

ACCOUNT = "111122223333"
REGION = "eu-west-1"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:redshift/fraud-alerts-AbCdEf"
WORKGROUP_ID = "0f3c1d2e-7a8b-4c5d-9e0f-112233445566"
SERVICE_METRICS = (
    "AlertsSent",
    "AlertsRejected",
    "AlertsDeferred",
    "Batches",
    "SendThrottled",
    "RunDurationSeconds",
    "OldestPendingAlertAgeSeconds",
    "UnknownAlerts",
)
# cfn-lint findings accepted on CDK output, each for a reason: CDK adds an explicit DependsOn on
# the function's role beside the GetAtt that already orders it (harmless, not ours to change).
ACCEPTED_CFN_LINT_RULES = frozenset({"W3005"})


@dataclass(frozen=True)
class Synthesised:
    stack: Stack
    template: Template
    template_path: Path

    def resources(self, resource_type: str) -> Mapping[str, Mapping[str, Any]]:
        return self.template.find_resources(resource_type)

    def only(self, resource_type: str) -> Mapping[str, Any]:
        (resource,) = self.resources(resource_type).values()
        return resource


def synthesise(outdir: Path, settings: dict[str, object]) -> Synthesised:
    asset_dir = outdir / "asset"
    asset_dir.mkdir(parents=True)
    (asset_dir / "placeholder.py").write_text("# stands in for the built package\n")
    context = {"fraud-alerts": {**settings, "lambda_asset_dir": str(asset_dir)}}

    app = build_app(context, outdir=str(outdir / "cdk.out"))
    stack = app.node.find_child(STACK_NAME)
    assert isinstance(stack, Stack)
    template = Template.from_stack(stack)
    return Synthesised(stack, template, outdir / "cdk.out" / f"{STACK_NAME}.template.json")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return synthesise(
        tmp_path_factory.mktemp("cluster"),
        {
            "sender_email": "alerts@cards.example.com",
            "redshift_cluster_id": "fraud-analytics",
            "redshift_database": "analytics",
            "secret_arn": SECRET,
            "ses_configuration_set": "fraud-alerts",
            "send_rate_cap": 12.5,
            "alarm_email": "fraud-ops@example.com",
            "account": ACCOUNT,
            "region": REGION,
        },
    )


@pytest.fixture(scope="module")
def serverless(tmp_path_factory: pytest.TempPathFactory) -> Synthesised:
    return synthesise(
        tmp_path_factory.mktemp("serverless"),
        {
            "sender_email": "alerts@cards.example.com",
            "ses_identity": "alerts@cards.example.com",
            "redshift_workgroup": "fraud",
            "redshift_workgroup_id": WORKGROUP_ID,
            "redshift_database": "dev",
            "sweep_rate_minutes": 10,
            "account": ACCOUNT,
            "region": REGION,
        },
    )


@pytest.fixture(params=["cluster", "serverless"])
def each(request: pytest.FixtureRequest) -> Synthesised:
    synthesised: Synthesised = request.getfixturevalue(request.param)
    return synthesised


# --- the function ---------------------------------------------------------------------------


def test_function_is_one_arm64_instance_of_the_packaged_runtime(cluster: Synthesised) -> None:
    cluster.template.resource_count_is("AWS::Lambda::Function", 1)
    cluster.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Handler": HANDLER,
            "ReservedConcurrentExecutions": 1,
            "MemorySize": 512,
            "Timeout": 240,
            "TracingConfig": {"Mode": "Active"},
        },
    )


def test_runtime_matches_the_interpreter_the_package_is_built_for() -> None:
    assert RUNTIME.name == f"python{package_lambda.PYTHON_VERSION}"


def test_function_environment_is_what_the_handlers_read(cluster: Synthesised) -> None:
    variables = cluster.only("AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
    table_ref = {"Ref": next(iter(cluster.resources("AWS::DynamoDB::Table")))}

    assert variables == {
        "SENDER_EMAIL": "alerts@cards.example.com",
        "SENDER_NAME": "Card Security",
        "REDSHIFT_CLUSTER_ID": "fraud-analytics",
        "REDSHIFT_DATABASE": "analytics",
        "SECRET_ARN": SECRET,
        "STATEMENT_NAME_PREFIX": "fraud-model:",
        "ALERTS_TABLE": "public.predicted_fraud",
        "DELIVERY_TABLE": "public.fraud_alert_delivery",
        "BATCH_SIZE": "50",
        "SEND_RATE_CAP": "12.5",
        "SES_CONFIGURATION_SET": "fraud-alerts",
        "DELIVERY_POLICY": "at_least_once",
        "CLAIM_LEASE_SECONDS": "900",
        "IDEMPOTENCY_TABLE": table_ref,
        "POWERTOOLS_SERVICE_NAME": "fraud-alerts",
        "POWERTOOLS_METRICS_NAMESPACE": "FraudAlerts",
        "LOG_LEVEL": "INFO",
    }


def test_serverless_environment_names_the_workgroup_and_no_cluster(serverless: Synthesised) -> None:
    variables = serverless.only("AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]

    assert variables["REDSHIFT_WORKGROUP"] == "fraud"
    assert not {"REDSHIFT_CLUSTER_ID", "SECRET_ARN", "SEND_RATE_CAP"} & set(variables)


def test_failed_async_invocations_are_retried_then_dead_lettered(cluster: Synthesised) -> None:
    queue_arn = {"Fn::GetAtt": [_logical_id(cluster, "AWS::SQS::Queue"), "Arn"]}

    cluster.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 3600,
            "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
        },
    )


def test_logs_go_to_a_log_group_with_retention(cluster: Synthesised) -> None:
    log_group_id = _logical_id(cluster, "AWS::Logs::LogGroup")

    cluster.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    cluster.template.has_resource_properties(
        "AWS::Lambda::Function", {"LoggingConfig": {"LogGroup": {"Ref": log_group_id}}}
    )


# --- triggers -------------------------------------------------------------------------------


def test_model_run_rule_matches_exactly_the_terminal_states_of_model_statements(
    cluster: Synthesised,
) -> None:
    cluster.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.exact(
                {
                    "source": ["aws.redshift-data"],
                    "detail-type": ["Redshift Data Statement Status Change"],
                    "detail": {
                        "state": list(TERMINAL_STATES),
                        "statementName": [{"prefix": "fraud-model:"}],
                    },
                }
            ),
            "Targets": [_function_target(cluster)],
        },
    )


def test_sweep_runs_on_the_configured_rate(cluster: Synthesised, serverless: Synthesised) -> None:
    cluster.template.has_resource_properties(
        "AWS::Events::Rule",
        {"ScheduleExpression": "rate(5 minutes)", "Targets": [_function_target(cluster)]},
    )
    serverless.template.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(10 minutes)"}
    )


def test_dead_letter_queue_is_encrypted_and_refuses_plain_http(cluster: Synthesised) -> None:
    queue_id = _logical_id(cluster, "AWS::SQS::Queue")

    cluster.template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    cluster.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_idempotency_table_expires_records_and_keeps_backups(cluster: Synthesised) -> None:
    cluster.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


# --- alarms and dashboard -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "metric", "statistic", "threshold"),
    [
        ("AWS/Lambda", "Errors", "Sum", 0),
        ("AWS/Lambda", "Throttles", "Sum", 5),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 0),
        ("FraudAlerts", "AlertsRejected", "Sum", 10),
        ("FraudAlerts", "SendThrottled", "Sum", 5),
        ("FraudAlerts", "SendingHalted", "Sum", 0),
        ("FraudAlerts", "OldestPendingAlertAgeSeconds", "Maximum", 1800),
        ("FraudAlerts", "UnknownAlerts", "Sum", 0),
    ],
)
def test_alarm_fires_above_its_threshold(
    cluster: Synthesised, namespace: str, metric: str, statistic: str, threshold: int
) -> None:
    expected: dict[str, object] = {
        "Namespace": namespace,
        "MetricName": metric,
        "Statistic": statistic,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    if namespace == "FraudAlerts":
        expected["Dimensions"] = [{"Name": "service", "Value": "fraud-alerts"}]

    cluster.template.has_resource_properties("AWS::CloudWatch::Alarm", expected)


def test_a_stopped_schedule_is_noticed(cluster: Synthesised) -> None:
    cluster.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Invocations",
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "breaching",
            "Period": 900,
        },
    )


def test_every_alarm_notifies_the_topic_only_when_an_address_is_set(
    cluster: Synthesised, serverless: Synthesised
) -> None:
    topic_ref = {"Ref": _logical_id(cluster, "AWS::SNS::Topic")}
    alarms = cluster.resources("AWS::CloudWatch::Alarm").values()

    assert all(alarm["Properties"]["AlarmActions"] == [topic_ref] for alarm in alarms)
    cluster.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "fraud-ops@example.com"}
    )
    serverless.template.resource_count_is("AWS::SNS::Topic", 0)
    assert all(
        "AlarmActions" not in alarm["Properties"]
        for alarm in serverless.resources("AWS::CloudWatch::Alarm").values()
    )


def test_dashboard_shows_every_service_metric(cluster: Synthesised) -> None:
    body = json.dumps(cluster.only("AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"])

    missing = [name for name in SERVICE_METRICS if f'\\"{name}\\"' not in body]
    assert missing == []


# --- least privilege ------------------------------------------------------------------------


def test_no_allow_statement_grants_a_wildcard_action(each: Synthesised) -> None:
    wildcards = [
        action
        for statement in _allow_statements(each)
        for action in _as_list(statement["Action"])
        if action == "*" or action.endswith(":*") or "*" in action
    ]

    assert wildcards == []


def test_star_resources_only_on_actions_aws_cannot_scope(each: Synthesised) -> None:
    starred = {
        action
        for statement in _identity_statements(each)
        if "*" in _as_list(statement["Resource"])
        for action in _as_list(statement["Action"])
    }

    assert starred <= ACTIONS_WITHOUT_RESOURCE_SCOPE
    assert "cloudwatch:PutMetricData" not in _granted_actions(each)


def test_statement_reads_are_limited_to_the_roles_own_statements(each: Synthesised) -> None:
    (statement,) = [
        s for s in _identity_statements(each) if "redshift-data:DescribeStatement" in s["Action"]
    ]

    assert statement["Condition"] == {
        "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
    }


def test_cluster_role_reaches_one_cluster_one_secret_one_identity(cluster: Synthesised) -> None:
    grants = _grants_by_action(cluster)

    assert grants["redshift-data:ExecuteStatement"] == [
        f"arn:${{AWS::Partition}}:redshift:{REGION}:{ACCOUNT}:cluster:fraud-analytics"
    ]
    assert grants["redshift-data:BatchExecuteStatement"] == grants["redshift-data:ExecuteStatement"]
    assert grants["secretsmanager:GetSecretValue"] == [SECRET]
    assert grants["ses:SendRawEmail"] == [
        f"arn:${{AWS::Partition}}:ses:{REGION}:{ACCOUNT}:identity/cards.example.com",
        f"arn:${{AWS::Partition}}:ses:{REGION}:{ACCOUNT}:configuration-set/fraud-alerts",
    ]
    assert "redshift-serverless:GetCredentials" not in grants


def test_serverless_role_reaches_one_workgroup_without_a_secret(serverless: Synthesised) -> None:
    grants = _grants_by_action(serverless)
    workgroup = f"arn:${{AWS::Partition}}:redshift-serverless:{REGION}:{ACCOUNT}:workgroup/"

    assert grants["redshift-data:ExecuteStatement"] == [workgroup + WORKGROUP_ID]
    assert grants["redshift-serverless:GetCredentials"] == [workgroup + WORKGROUP_ID]
    assert grants["ses:SendEmail"] == [
        f"arn:${{AWS::Partition}}:ses:{REGION}:{ACCOUNT}:identity/alerts@cards.example.com"
    ]
    assert "secretsmanager:GetSecretValue" not in grants


def test_idempotency_grants_are_item_actions_on_the_table(cluster: Synthesised) -> None:
    table_arn = f"<{_logical_id(cluster, 'AWS::DynamoDB::Table')}.Arn>"
    dynamodb = {a: r for a, r in _grants_by_action(cluster).items() if a.startswith("dynamodb:")}

    assert dynamodb == {
        action: [table_arn]
        for action in (
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        )
    }


# --- cdk-nag and cfn-lint -------------------------------------------------------------------


def test_cdk_nag_aws_solutions_reports_no_unsuppressed_finding(each: Synthesised) -> None:
    annotations = Annotations.from_stack(each.stack)
    pattern = Match.string_like_regexp("AwsSolutions-.*")

    assert annotations.find_error("*", pattern) == []
    assert annotations.find_warning("*", pattern) == []


def test_every_nag_suppression_gives_a_real_reason(each: Synthesised) -> None:
    suppressions = [
        rule
        for resource in each.template.to_json()["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]

    assert suppressions, "expected the reviewed suppressions to be present"
    for rule in suppressions:
        words = rule["reason"].split()
        assert len(words) >= 15, rule
        assert rule["id"] not in rule["reason"], rule


def test_cfn_lint_finds_nothing_but_accepted_cdk_output(each: Synthesised) -> None:
    matches = lint(
        each.template_path.read_text(encoding="utf-8"), config=ManualArgs(regions=[REGION])
    )

    findings = [
        f"{match.rule.id} {match.message}"
        for match in matches
        if match.rule.id[0] in "EW" and match.rule.id not in ACCEPTED_CFN_LINT_RULES
    ]
    assert findings == []


# --- helpers --------------------------------------------------------------------------------


def _logical_id(synthesised: Synthesised, resource_type: str) -> str:
    (logical_id,) = synthesised.resources(resource_type)
    return logical_id


def _function_target(synthesised: Synthesised) -> object:
    function_id = _logical_id(synthesised, "AWS::Lambda::Function")
    queue_id = _logical_id(synthesised, "AWS::SQS::Queue")
    return Match.object_like(
        {
            "Arn": {"Fn::GetAtt": [function_id, "Arn"]},
            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}},
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2},
        }
    )


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_documents(synthesised: Synthesised) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy document in the template, with whether it is an identity policy."""
    for resource in synthesised.template.to_json()["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy":
            yield "identity", properties["PolicyDocument"]
        elif resource["Type"] == "AWS::IAM::Role":
            for inline in properties.get("Policies", []):
                yield "identity", inline["PolicyDocument"]
        elif "PolicyDocument" in properties:
            yield "resource", properties["PolicyDocument"]


def _allow_statements(synthesised: Synthesised) -> list[dict[str, Any]]:
    return [
        statement
        for _, document in _policy_documents(synthesised)
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
    ]


def _identity_statements(synthesised: Synthesised) -> list[dict[str, Any]]:
    return [
        statement
        for kind, document in _policy_documents(synthesised)
        if kind == "identity"
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
    ]


def _granted_actions(synthesised: Synthesised) -> set[str]:
    return {a for s in _identity_statements(synthesised) for a in _as_list(s["Action"])}


def _grants_by_action(synthesised: Synthesised) -> dict[str, list[str]]:
    """Action -> resources it is granted on, intrinsic functions flattened to readable text."""
    grants: dict[str, list[str]] = {}
    for statement in _identity_statements(synthesised):
        resources = [_flatten(resource) for resource in _as_list(statement["Resource"])]
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, []).extend(resources)
    return grants


def _flatten(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_flatten(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"${{{value['Ref']}}}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    raise AssertionError(f"unexpected intrinsic in a policy resource: {value!r}")
