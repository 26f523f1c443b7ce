"""Local admin for the embedded warehouse: create the contract table and load a CSV export into it.

This is not the production path: the CSV goes straight into DuckDB through its CSV reader, in
one transaction under the database lock, instead of through the Data API.
"""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path

import duckdb

from adapters.local_warehouse.data_api import LocalDataApiClient
from adapters.local_warehouse.dialect import LocalWarehouseError
from adapters.observability import logger

DEFAULT_TABLE = "predicted_fraud"

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")


class CsvLayoutError(LocalWarehouseError):
    """The CSV's header does not name columns of the table."""


def alerts_table_ddl(table: str = DEFAULT_TABLE) -> str:
    """`predicted_fraud.sql` (Redshift's dialect) for a table called `table`."""
    template = resources.files(__package__).joinpath("predicted_fraud.sql").read_text("utf-8")
    return template.replace("{table}", _checked_name(table))


def create_alerts_table(client: LocalDataApiClient, table: str = DEFAULT_TABLE) -> None:
    """Create the contract table through the stand-in unless it exists already."""
    client.query_local(alerts_table_ddl(table))
    logger.info("local alerts table ready", table=table)


def load_csv(client: LocalDataApiClient, path: str | Path, table: str = DEFAULT_TABLE) -> int:
    """Append a UTF-8 CSV (header row = column names, empty field = NULL); return the row count.

    A quoted empty field (`""`) stays an empty string, as Redshift's COPY keeps it.
    """
    source = Path(path)
    header = _header(source)

    with client.transaction() as cursor:
        types = dict(
            cursor.execute(
                "SELECT lower(column_name), data_type FROM information_schema.columns"
                " WHERE lower(table_name) = $table ORDER BY ordinal_position",
                {"table": _checked_name(table).rpartition(".")[2].lower()},
            ).fetchall()
        )
        unknown = [name for name in header if name.lower() not in types]
        if not types or unknown:
            raise CsvLayoutError(f"{source.name}: not columns of {table}: {unknown or header}")

        columns = ", ".join(f"'{name}': '{types[name.lower()]}'" for name in header)
        names = ", ".join(f'"{name}"' for name in header)
        try:
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM read_csv("
                f"'{_sql_literal(str(source))}', header = true, auto_detect = false,"
                f" columns = {{{columns}}}, delim = ',', quote = '\"', escape = '\"',"
                " nullstr = '', allow_quoted_nulls = false, encoding = 'utf-8')"
            )
        except duckdb.Error as exc:
            raise CsvLayoutError(_unreadable(source, exc)) from None
        found = cursor.fetchone()
        loaded = int(found[0]) if found else 0

    logger.info("local csv loaded", table=table, rows=loaded)
    return loaded


def _unreadable(source: Path, exc: Exception) -> str:
    """DuckDB's CSV errors quote the offending line, which holds customer data: say where the
    problem is (file, line, column) and leave the content out."""
    text = str(exc)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    column = re.search(r'converting column "([^"]+)"', text)
    where = f"line {line.group(1)}" if line else "a row"
    what = (
        f"column {column.group(1)!r} holds a value of the wrong type"
        if column
        else "it is malformed"
    )
    return f"{source.name}: {where}: {what}; nothing was loaded"


def _header(source: Path) -> list[str]:
    # utf-8-sig: a spreadsheet's export starts with a byte-order mark, which is not a column name.
    with source.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    if not header or not all(_PLAIN_NAME.fullmatch(name) for name in header):
        raise CsvLayoutError(f"{source.name}: the first row must name the columns")
    return header


def _checked_name(table: str) -> str:
    if not _PLAIN_NAME.fullmatch(table):
        raise CsvLayoutError(f"not a plain table name: {table!r}")
    return table


def _sql_literal(text: str) -> str:
    return text.replace("'", "''")
