"""CDK entry point: `python infra/app.py`, run by the CDK CLI or directly with CDK_OUTDIR set.

Synthesis needs no AWS account: without `account`/`region` in the settings the stack is
environment-agnostic and takes both from the CLI's credentials at deploy time.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

# The CLI runs this file as a script, which puts infra/, not the repository root, on sys.path.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from aws_cdk import App, Aspects, Environment, Tags  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.settings import SettingsError, load_settings  # noqa: E402
from infra.stack import FraudAlertsStack  # noqa: E402

STACK_NAME = "FraudAlertsStack"


def build_app(context: Mapping[str, object] | None = None, outdir: str | None = None) -> App:
    """The app with its one stack and the cdk-nag AwsSolutions checks applied."""
    app = App(context=dict(context) if context else None, outdir=outdir)
    settings = load_settings(app.node.try_get_context)

    env = None
    if settings.account is not None or settings.region is not None:
        env = Environment(account=settings.account, region=settings.region)

    stack = FraudAlertsStack(app, STACK_NAME, settings=settings, env=env)
    Tags.of(stack).add("application", "fraud-alerts")

    # Unsuppressed AwsSolutions errors fail `cdk synth` and `cdk deploy`.
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app


def main() -> int:
    try:
        app = build_app()
    except SettingsError as exc:
        # One line naming the bad setting reads better in `cdk deploy` output than a traceback.
        print(f"fraud-alerts settings: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
