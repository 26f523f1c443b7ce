"""The embedded warehouse: a DuckDB-backed stand-in for the Redshift Data API client."""

from adapters.local_warehouse.data_api import LocalDataApiClient, LocalWarehouseError, SqlError

__all__ = ["LocalDataApiClient", "LocalWarehouseError", "SqlError"]
