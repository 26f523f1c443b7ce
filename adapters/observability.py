"""The one place fraud-alerts' logger lives, and the masking all logged customer data goes through.

Messages are constant; values travel as fields (`alert_key=`, `statement_id=`). Customer email
addresses and names are logged only through `mask_email` / `mask_name`; card digits never.
"""

from __future__ import annotations

import logging
import sys

from aws_lambda_powertools import Logger

SERVICE_NAME = "fraud-alerts"

# Logs go to stderr so the CLI's stdout stays clean for tables and `status --json`; in Lambda
# both streams reach CloudWatch.
logger = Logger(service=SERVICE_NAME, logger_handler=logging.StreamHandler(sys.stderr))


def mask_email(address: str | None) -> str:
    """Keep the first character of the local part and the top-level domain, nothing else."""
    if not address:
        return ""
    local, _, domain = address.strip().rpartition("@")
    if not local:
        return "***"
    tld = domain.rsplit(".", 1)[-1].lower() if "." in domain else ""
    return f"{local[0]}***@***.{tld}" if tld else f"{local[0]}***@***"


def mask_name(name: str | None) -> str:
    """Names are never logged, not even in part: only whether one was present."""
    return "<name>" if name else ""
