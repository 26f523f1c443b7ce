"""DuckDB result columns and values in the Data API's shapes: `ColumnMetadata` and `Field` unions.

The Data API picks a `Field` member by the column's type, and prints DECIMAL, DATE and TIMESTAMP
values as strings the way Redshift does (a decimal with its scale, a timestamp without zone and
without trailing zeros in its fraction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Field = dict[str, Any]
NULL_FIELD: Field = {"isNull": True}


@dataclass(frozen=True, slots=True)
class Column:
    """One result column: its label and how its values become `Field`s."""

    label: str
    type_name: str
    precision: int
    scale: int
    signed: bool
    case_sensitive: bool
    to_field: Callable[[Any], Field]

    def metadata(self) -> dict[str, Any]:
        return {
            "isCaseSensitive": self.case_sensitive,
            "isCurrency": False,
            "isSigned": self.signed,
            "label": self.label,
            "name": self.label,
            "nullable": 1,
            "precision": self.precision,
            "scale": self.scale,
            "schemaName": "",
            "tableName": "",
            "typeName": self.type_name,
            "length": 0,
        }


def columns(description: Sequence[tuple[Any, ...]], labels: Sequence[str] | None) -> list[Column]:
    """Columns of a DuckDB cursor's `description`, labelled as Redshift would label them."""
    names = (
        list(labels)
        if labels is not None and len(labels) == len(description)
        else [str(entry[0]).lower() for entry in description]
    )
    return [_column(name, entry[1]) for name, entry in zip(names, description, strict=True)]


def record(row: Sequence[Any], cols: Sequence[Column]) -> list[Field]:
    return [
        NULL_FIELD if value is None else col.to_field(value)
        for value, col in zip(row, cols, strict=True)
    ]


def redshift_timestamp(value: datetime) -> str:
    """`2026-11-30 10:45:25`, or with 1 to 6 fractional digits and no trailing zeros."""
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text


def _column(label: str, duckdb_type: Any) -> Column:
    type_id = str(getattr(duckdb_type, "id", duckdb_type)).lower()
    if type_id == "decimal":
        settings = dict(getattr(duckdb_type, "children", []))
        precision, scale = int(settings.get("precision", 18)), int(settings.get("scale", 0))
        return Column(label, "numeric", precision, scale, True, False, _decimal_field)
    return Column(label, *_SIMPLE_TYPES.get(type_id, _UNKNOWN_TYPE))


def _string_field(value: Any) -> Field:
    return {"stringValue": str(value)}


def _long_field(value: Any) -> Field:
    return {"longValue": int(value)}


def _double_field(value: Any) -> Field:
    return {"doubleValue": float(value)}


def _boolean_field(value: Any) -> Field:
    return {"booleanValue": bool(value)}


def _decimal_field(value: Any) -> Field:
    # format(..., "f") keeps the scale DuckDB gives (3099.48, 427100.00) and never uses exponents.
    return {"stringValue": format(Decimal(value), "f")}


def _timestamp_field(value: Any) -> Field:
    return {"stringValue": redshift_timestamp(value)}


def _timestamptz_field(value: Any) -> Field:
    return {"stringValue": redshift_timestamp(value.astimezone(UTC)) + "+00"}


def _date_field(value: Any) -> Field:
    return {"stringValue": value.isoformat() if isinstance(value, date) else str(value)}


_Signature = tuple[str, int, int, bool, bool, Callable[[Any], Field]]

# DuckDB type id -> Redshift type name, precision, scale, signed, case sensitive, converter.
# VARCHAR's declared length is lost in DuckDB, so its precision is Redshift's maximum.
_SIMPLE_TYPES: dict[str, _Signature] = {
    "varchar": ("varchar", 65535, 0, False, True, _string_field),
    "boolean": ("bool", 1, 0, False, False, _boolean_field),
    "tinyint": ("int2", 5, 0, True, False, _long_field),
    "smallint": ("int2", 5, 0, True, False, _long_field),
    "integer": ("int4", 10, 0, True, False, _long_field),
    "bigint": ("int8", 19, 0, True, False, _long_field),
    # DuckDB sums integers into HUGEINT where Redshift answers BIGINT.
    "hugeint": ("int8", 19, 0, True, False, _long_field),
    "utinyint": ("int2", 5, 0, True, False, _long_field),
    "usmallint": ("int4", 10, 0, True, False, _long_field),
    "uinteger": ("int8", 19, 0, True, False, _long_field),
    "ubigint": ("numeric", 20, 0, True, False, _string_field),
    "float": ("float4", 8, 8, True, False, _double_field),
    "double": ("float8", 17, 17, True, False, _double_field),
    "timestamp": ("timestamp", 29, 6, False, False, _timestamp_field),
    "timestamp with time zone": ("timestamptz", 35, 6, False, False, _timestamptz_field),
    "date": ("date", 13, 0, False, False, _date_field),
    "time": ("time", 15, 6, False, False, _string_field),
}
_UNKNOWN_TYPE: _Signature = ("varchar", 65535, 0, False, True, _string_field)
