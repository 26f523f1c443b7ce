"""The warehouse tables fraud-alerts reads and writes, named by configuration, checked strictly.

Identifiers cannot be bound as parameters, so they are the one thing formatted into SQL text;
that is safe only because each must match `IDENTIFIER` before any SQL is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$")


class InvalidTableNameError(ValueError):
    """A configured table name is not a plain, optionally schema-qualified, identifier."""


@dataclass(frozen=True, slots=True)
class TableNames:
    """`alerts` is the model's `predicted_fraud`; `delivery` is fraud-alerts' own table."""

    alerts: str = "public.predicted_fraud"
    delivery: str = "public.fraud_alert_delivery"

    def __post_init__(self) -> None:
        for setting, value in (("ALERTS_TABLE", self.alerts), ("DELIVERY_TABLE", self.delivery)):
            if not IDENTIFIER.fullmatch(value):
                raise InvalidTableNameError(
                    f"{setting}={value!r} is not a valid table name: use lower-case letters, digits"
                    " and underscores, optionally prefixed by a schema and a dot"
                )
