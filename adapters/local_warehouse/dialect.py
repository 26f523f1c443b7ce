"""Redshift SQL, as fraud-alerts writes it for the Data API, turned into SQL DuckDB runs.

sqlglot does the translation (read="redshift", write="duckdb"); this module adds what sqlglot
leaves to us:

- `LOCK t1, t2` is not parsed by sqlglot, so it is recognised here and becomes a `LockStatement`
  (the stand-in serialises whole transactions, which is what Redshift's LOCK guarantees).
- Redshift-only table attributes (DISTSTYLE, DISTKEY, SORTKEY, BACKUP, column ENCODE) are dropped:
  DuckDB has no use for them and sqlglot would otherwise warn or emit them verbatim.
- `GETDATE()` is Redshift's session time in UTC, without a zone and truncated to the second;
  sqlglot maps it to DuckDB's `CURRENT_TIMESTAMP`, which carries a zone and microseconds.
- `:name` parameters become `$p_name`: Data API names may start with a digit, and `$1` would be
  a positional parameter to DuckDB.
- Result-column labels follow Redshift's (PostgreSQL's) naming, lower case, since the Data API
  reports them in `ColumnMetadata` and callers may read columns by name.

Known shortcomings: VARCHAR lengths and CHAR padding are not enforced (DuckDB ignores them), and
only the constructs fraud-alerts uses are tested (see tests/integration/test_local_data_api.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

PARAMETER_PREFIX = "p_"

_LOCK = re.compile(
    r"^\s*LOCK\s+(?:TABLE\s+)?(?P<tables>[^;]+?)\s*;?\s*$", re.IGNORECASE | re.DOTALL
)
_IDENTIFIER = re.compile(
    r'^(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)(?:\.(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*))?$'
)
_REDSHIFT_ONLY_PROPERTIES = (
    exp.DistStyleProperty,
    exp.DistKeyProperty,
    exp.SortKeyProperty,
    exp.BackupProperty,
)
# The label PostgreSQL (and so Redshift) gives an expression it cannot name.
_UNNAMED = "?column?"


class LocalWarehouseError(Exception):
    """Base of the local warehouse's own errors (the Data API stand-in raises ClientError)."""


class SqlError(LocalWarehouseError):
    """SQL the stand-in cannot run; `message` is worded the way Redshift reports errors."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class LockStatement:
    """`LOCK t1, t2`: names of the tables that must exist, lower case as Redshift folds them."""

    tables: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TranslatedStatement:
    """One Redshift statement in DuckDB's dialect, with what the Data API reports about it."""

    duckdb_sql: str
    parameters: frozenset[str]
    has_result_set: bool
    labels: tuple[str, ...] | None
    tables: tuple[str, ...]


Statement = LockStatement | TranslatedStatement


def translate(sql: str) -> Statement:
    """Translate one Redshift statement; raise `SqlError` for SQL Redshift would reject."""
    return _translate_cached(sql)


def binding(parameters: dict[str, str]) -> dict[str, str]:
    """Data API parameters as DuckDB's named parameters of the translated text."""
    return {PARAMETER_PREFIX + name: value for name, value in parameters.items()}


@lru_cache(maxsize=1024)
def _translate_cached(sql: str) -> Statement:
    lock = _LOCK.fullmatch(sql)
    if lock is not None:
        return _lock_statement(lock.group("tables"))

    tree = _parse_one(sql)
    _drop_redshift_only_attributes(tree)
    _pin_getdate_to_utc_seconds(tree)
    parameters = _rename_parameters(tree)

    is_query = isinstance(tree, exp.Query)
    return TranslatedStatement(
        duckdb_sql=tree.sql(dialect="duckdb"),
        parameters=frozenset(parameters),
        has_result_set=is_query,
        labels=_labels(tree) if is_query else None,
        tables=_referenced_tables(tree),
    )


def _lock_statement(tables_text: str) -> LockStatement:
    names = tuple(name.strip() for name in tables_text.split(","))
    if not all(_IDENTIFIER.fullmatch(name) for name in names):
        raise SqlError(f'ERROR: syntax error at or near "{tables_text.strip()}"')
    return LockStatement(tables=tuple(name.replace('"', "").lower() for name in names))


def _parse_one(sql: str) -> exp.Expr:
    try:
        trees = [tree for tree in sqlglot.parse(sql, read="redshift") if tree is not None]
    except ParseError as exc:
        near = exc.errors[0].get("highlight", "") if exc.errors else ""
        raise SqlError(f'ERROR: syntax error at or near "{near}"') from exc

    if not trees:
        raise SqlError("ERROR: syntax error at end of input")
    if len(trees) > 1:
        # The Data API prepares the text as one statement, as PostgreSQL's extended protocol does.
        raise SqlError("ERROR: cannot insert multiple commands into a prepared statement")
    if isinstance(trees[0], exp.Command):
        raise SqlError(f'ERROR: syntax error at or near "{trees[0].name}"')
    return trees[0]


def _drop_redshift_only_attributes(tree: exp.Expr) -> None:
    for node in list(tree.find_all(*_REDSHIFT_ONLY_PROPERTIES)):
        node.pop()
    for constraint in list(tree.find_all(exp.ColumnConstraint)):
        if isinstance(constraint.args.get("kind"), exp.EncodeColumnConstraint):
            constraint.pop()


def _pin_getdate_to_utc_seconds(tree: exp.Expr) -> None:
    for node in list(tree.find_all(exp.CurrentTimestamp)):
        if node.args.get("sysdate"):
            continue
        utc = exp.AtTimeZone(this=exp.CurrentTimestamp(), zone=exp.Literal.string("UTC"))
        truncated = exp.Anonymous(
            this="date_trunc", expressions=[exp.Literal.string("second"), utc]
        )
        node.replace(exp.cast(truncated, exp.DataType.Type.TIMESTAMP))


def _rename_parameters(tree: exp.Expr) -> set[str]:
    names: set[str] = set()
    for placeholder in list(tree.find_all(exp.Placeholder)):
        name = placeholder.name
        if not name:
            raise SqlError('ERROR: syntax error at or near "?"')
        names.add(name)
        placeholder.replace(exp.Placeholder(this=PARAMETER_PREFIX + name))
    return names


def _referenced_tables(tree: exp.Expr) -> tuple[str, ...]:
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    # The table a CREATE names need not exist yet; one a DROP names must, as in Redshift.
    created = (
        tree.this.find(exp.Table)
        if isinstance(tree, exp.Create) and tree.this is not None
        else None
    )
    names = []
    for table in tree.find_all(exp.Table):
        if table is created or not table.name or table.name.lower() in cte_names:
            continue
        names.append(".".join(part.lower() for part in (table.db, table.name) if part))
    return tuple(dict.fromkeys(names))


def _labels(tree: exp.Expr) -> tuple[str, ...] | None:
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select) or any(p.is_star for p in select.expressions):
        return None
    return tuple(_label(projection) for projection in select.expressions)


def _label(projection: exp.Expr) -> str:
    if isinstance(projection, exp.Alias):
        return projection.alias.lower()
    if isinstance(projection, exp.Column):
        return projection.name.lower()
    if isinstance(projection, exp.Cast):
        return _label_of_cast(projection)
    if isinstance(projection, exp.Case):
        return "case"
    if isinstance(projection, exp.Anonymous):
        return str(projection.this).lower()
    if isinstance(projection, exp.Func):
        return projection.sql_name().lower()
    return _UNNAMED


def _label_of_cast(cast: exp.Cast) -> str:
    # PostgreSQL names `x::t` after the column when x is one, else after the type.
    if isinstance(cast.this, exp.Column):
        return cast.this.name.lower()
    return str(cast.to.this.value).lower()
