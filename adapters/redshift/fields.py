"""Read the Data API's `Field` unions by the column's declared type, not by the key that is set."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

FieldValue = str | int | float | bool | Decimal | datetime | date | bytes | None


class UnsupportedColumnTypeError(ValueError):
    """A result column has a type this adapter does not know how to read."""


def _text(field: Mapping[str, Any]) -> str:
    return str(field["stringValue"])


def _decimal(field: Mapping[str, Any]) -> Decimal:
    # DECIMAL arrives as text so that no digit is lost; it must never pass through float.
    return Decimal(field["stringValue"])


def _timestamp(field: Mapping[str, Any]) -> datetime:
    # Redshift prints 0 to 6 fractional digits and no zone for TIMESTAMP: the value is UTC.
    return datetime.fromisoformat(field["stringValue"])


def _timestamptz(field: Mapping[str, Any]) -> datetime:
    parsed = datetime.fromisoformat(field["stringValue"])
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _date(field: Mapping[str, Any]) -> date:
    return date.fromisoformat(field["stringValue"])


def _long(field: Mapping[str, Any]) -> int:
    return int(field["longValue"])


def _double(field: Mapping[str, Any]) -> float:
    return float(field["doubleValue"])


def _boolean(field: Mapping[str, Any]) -> bool:
    return bool(field["booleanValue"])


def _blob(field: Mapping[str, Any]) -> bytes:
    return bytes(field["blobValue"])


_READERS: dict[str, Callable[[Mapping[str, Any]], FieldValue]] = {
    "varchar": _text,
    "bpchar": _text,
    "char": _text,
    "character": _text,
    "character varying": _text,
    "text": _text,
    "name": _text,
    "super": _text,
    "numeric": _decimal,
    "decimal": _decimal,
    "timestamp": _timestamp,
    "timestamptz": _timestamptz,
    "date": _date,
    "int2": _long,
    "int4": _long,
    "int8": _long,
    "smallint": _long,
    "integer": _long,
    "bigint": _long,
    "float4": _double,
    "float8": _double,
    "real": _double,
    "double precision": _double,
    "bool": _boolean,
    "boolean": _boolean,
    "varbyte": _blob,
}


def row_reader(
    columns: Sequence[Mapping[str, Any]],
) -> Callable[[Sequence[Mapping[str, Any]]], dict[str, FieldValue]]:
    """Build a function that turns one record into `{column name: Python value}`."""
    names = [str(column["name"]) for column in columns]
    readers = [_reader_for(column) for column in columns]

    def read(record: Sequence[Mapping[str, Any]]) -> dict[str, FieldValue]:
        return {
            name: None if field.get("isNull") else reader(field)
            for name, reader, field in zip(names, readers, record, strict=True)
        }

    return read


def _reader_for(column: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], FieldValue]:
    type_name = str(column.get("typeName", "")).lower()
    reader = _READERS.get(type_name)
    if reader is None:
        raise UnsupportedColumnTypeError(
            f"column {column.get('name')!r} has type {type_name!r}, which is not read here"
        )
    return reader
