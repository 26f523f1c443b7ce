"""Check, at cold start, that the database secret the Data API will use is there and usable.

The Data API reads the secret itself on every statement (so a rotation needs nothing from us);
reading it once here turns a wrong ARN or a missing permission into a clear start-up error
instead of a failed statement per run. The value is never logged or kept.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)

# Powertools caches the value for this long, so warm invocations do not call Secrets Manager.
SECRET_CACHE_SECONDS = 300


class WarehouseSecretError(ValueError):
    """The database secret cannot be read, or is not a Redshift credentials secret."""


def check_database_secret(secret_arn: str, cluster_id: str | None) -> None:
    """Raise `WarehouseSecretError` naming SECRET_ARN if the secret is unusable."""
    try:
        secret: Any = parameters.get_secret(
            secret_arn, transform="json", max_age=SECRET_CACHE_SECONDS
        )
    except TransformParameterError:
        raise WarehouseSecretError(
            "SECRET_ARN names a secret that is not JSON: the Data API needs a secret with"
            " 'username' and 'password' keys"
        ) from None
    except GetParameterError as exc:
        raise WarehouseSecretError(
            "SECRET_ARN cannot be read: check the ARN and that the function's role has"
            f" secretsmanager:GetSecretValue on it ({type(exc.__cause__).__name__})"
        ) from None

    if not isinstance(secret, dict) or not secret.get("username"):
        raise WarehouseSecretError(
            "SECRET_ARN names a secret without a 'username': store the database user's credentials"
        )
    stored_cluster = secret.get("dbClusterIdentifier")
    if cluster_id and stored_cluster and stored_cluster != cluster_id:
        raise WarehouseSecretError(
            "SECRET_ARN belongs to another cluster than REDSHIFT_CLUSTER_ID: the Data API refuses"
            " a secret whose dbClusterIdentifier differs; use the secret of this cluster"
        )
