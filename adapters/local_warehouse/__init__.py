"""The embedded warehouse: a DuckDB-backed stand-in for the Redshift Data API client."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from adapters.local_warehouse.data_api import (
    LocalDataApiClient,
    LocalWarehouseError,
    SqlError,
    WarehouseUnavailableError,
)

if TYPE_CHECKING:
    from mypy_boto3_redshift_data import RedshiftDataAPIServiceClient

__all__ = [
    "LocalDataApiClient",
    "LocalWarehouseError",
    "SqlError",
    "WarehouseUnavailableError",
    "as_redshift_data_client",
]


def as_redshift_data_client(client: LocalDataApiClient) -> RedshiftDataAPIServiceClient:
    """The stand-in typed as boto3's client, for adapters annotated with the mypy_boto3 stubs.

    Only the five statement operations and `get_paginator("get_statement_result")` exist.
    """
    return cast("RedshiftDataAPIServiceClient", client)
