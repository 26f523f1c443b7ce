"""Models of the EventBridge events fraud-alerts is driven by, for the Powertools parser."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

# The Data API accepts statement names up to 500 characters.
MAX_STATEMENT_NAME = 500


class StatementStatusDetail(BaseModel):
    """`detail` of a Redshift Data API status change; only terminal states emit one."""

    model_config = ConfigDict(extra="ignore")

    statement_name: str = Field(alias="statementName", min_length=1, max_length=MAX_STATEMENT_NAME)
    statement_id: str = Field(alias="statementId", min_length=1, max_length=128)
    state: Literal["FINISHED", "FAILED", "ABORTED"]
    principal: str | None = None
    redshift_query_id: int | None = Field(default=None, alias="redshiftQueryId")
    rows: int | None = None
    expire_at: int | None = Field(default=None, alias="expireAt")


class StatementStatusEvent(EventBridgeModel):
    """`source aws.redshift-data`, `detail-type "Redshift Data Statement Status Change"`."""

    source: Literal["aws.redshift-data"]
    detail_type: Literal["Redshift Data Statement Status Change"] = Field(alias="detail-type")
    detail: StatementStatusDetail


class ScheduledSweepEvent(EventBridgeModel):
    """The scheduled fallback sweep (an EventBridge scheduled rule)."""

    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
