"""Which SQL Trellis runs for a reader: one read-only statement over the store's own tables.

The guard is an allow-list, checked in three steps on DuckDB's own parse of the statement:

1. the statement kind: SELECT (which DESCRIBE, SHOW and SUMMARIZE are);
2. every function it calls (in any clause, in subqueries, in table functions' arguments): a table
   function only from ``TABLE_FUNCTIONS`` (they are the doors to files, other databases and text
   run as SQL); a scalar, aggregate or window function only when it is one of DuckDB's built-ins
   and not in ``REFUSED_FUNCTIONS`` (those that run text as SQL or reveal settings, paths and
   variables). A table named like a path (``FROM 'x.csv'``) is refused too.
3. calls that build a value as wide as an argument says (``repeat``, ``lpad``...) only with sizes
   written in the query, up to ``sql_width.MAX_VALUE_WIDTH``: DuckDB would hold 2,048 such values at
   once before a row of the answer could be counted.

Every connection Trellis opens for a reader also has DuckDB's external access switched off and its
configuration locked (``open_read_only``, and the collector's own store), so a statement that got
past the guard still could not reach a file; the guard comes first so that a refused query gets a
reason a person can act on.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson

from trellis.collector.messages import first_line
from trellis.collector.schema import use_utc
from trellis.collector.sql_width import WidthRefused, check_widths

TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_columns",
        "duckdb_schemas",
        "duckdb_types",
        "duckdb_constraints",
        "duckdb_indexes",
        "duckdb_functions",
        "duckdb_keywords",
        "pragma_table_info",
    }
)
"""The table functions a query may call: generated rows and the store's own catalog."""

REFUSED_FUNCTIONS = frozenset(
    {
        "current_setting",
        "getvariable",
        "getenv",
        "query",
        "query_table",
        "json_execute_serialized_sql",
        "sniff_csv",
        "load_extension",
        "duckdb_secrets",
        "which_secret",
        "checkpoint",
        "force_checkpoint",
        "current_schemas",
        "current_database_path",
    }
)
"""Built-ins a query may not call: they run text as SQL, reveal settings, paths or secrets, or write."""

READ_ONLY_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}
"""How every reading connection is opened: no files, network or extensions, settings locked."""

_ALLOWED_KINDS = "SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE"
_EXPRESSION_KINDS = ("scalar", "aggregate", "macro", "window")


class QueryRefused(ValueError):
    """The query is not one the API runs; the message says why."""


_OPENING = threading.Lock()
"""Held while a file is opened and set up, so that two threads opening it at once do not both set it up."""


def open_read_only(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A database file opened read-only for a reader: external access off, configuration locked.

    Raises ``duckdb.Error`` as DuckDB does (a missing file, a lock held by a collector). Threads may open
    the same file at once (the dashboard reads ahead): one of them sets it up, the others find it locked."""
    config: dict[str, Any] = {k: v for k, v in READ_ONLY_CONFIG.items() if k != "lock_configuration"}
    with _OPENING:
        con = duckdb.connect(str(path), read_only=True, config=config)
        if con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0]:
            return con  # the file is open in this process already, set up and locked by the first open
        use_utc(con)
        con.execute("SET lock_configuration=true")
        return con


def check_query(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise QueryRefused unless ``sql`` is one read-only statement that calls only allowed functions."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"the SQL does not parse: {first_line(exc)}") from None
    if len(statements) != 1:
        raise QueryRefused(f"send exactly one statement, not {len(statements)}")
    statement_type = statements[0].type
    if statement_type != duckdb.StatementType.SELECT:
        name = "INSTALL/LOAD" if statement_type == duckdb.StatementType.LOAD else statement_type.name
        raise QueryRefused(f"{name} statements are not allowed; only read-only {_ALLOWED_KINDS}")
    tree = _parse(con, sql)
    for kind, name in _walk(tree):
        _check_reference(kind, name)
    try:
        check_widths(tree)
    except WidthRefused as exc:
        raise QueryRefused(str(exc)) from None


def _check_reference(kind: str, name: str) -> None:
    lowered = name.lower()
    if kind == "file":
        raise QueryRefused(f"{name!r} names a file; queries read only the collector's tables")
    if kind == "table function" and lowered not in TABLE_FUNCTIONS:
        raise QueryRefused(
            f"table function {name}() is not allowed: it can read files or other databases or run text as SQL; "
            f"queries may use {', '.join(sorted(TABLE_FUNCTIONS))}"
        )
    if kind == "function" and (lowered in REFUSED_FUNCTIONS or lowered not in expression_functions()):
        raise QueryRefused(
            f"function {name}() is not allowed: it runs text as SQL, reveals settings or paths, "
            "or is not one of DuckDB's built-in functions"
        )


@functools.cache
def expression_functions() -> frozenset[str]:
    """DuckDB's built-in scalar, aggregate, macro and window functions, by name (``unnest`` too)."""
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE function_type IN ?",
            [list(_EXPRESSION_KINDS)],
        ).fetchall()
    return frozenset(name for (name,) in rows) | {"unnest"}


def _parse(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """DuckDB's parse of ``sql`` as a JSON tree."""
    row = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0]
    tree = orjson.loads(row[0]) if row else {}
    if tree.get("error"):
        raise QueryRefused(f"the SQL cannot be checked: {tree.get('error_message')}")
    return tree


def _walk(node: Any) -> Iterator[tuple[str, str]]:
    """("table function" | "function" | "file", name) for every call and file-like table in the tree."""
    if isinstance(node, list):
        for value in node:
            yield from _walk(value)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
        function = node["function"]
        yield "table function", str(function.get("function_name", ""))
        yield from _walk(function.get("arguments", []))
        yield from _walk({k: v for k, v in node.items() if k != "function"})
        return
    if node.get("class") in ("FUNCTION", "WINDOW") and isinstance(node.get("function_name"), str):
        yield "function", node["function_name"]
    if node.get("type") == "BASE_TABLE" and _looks_like_path(str(node.get("table_name", ""))):
        yield "file", str(node.get("table_name"))
    for value in node.values():
        yield from _walk(value)


def _looks_like_path(name: str) -> bool:
    return "/" in name or "." in name or ":" in name


__all__ = ["READ_ONLY_CONFIG", "REFUSED_FUNCTIONS", "TABLE_FUNCTIONS", "QueryRefused", "check_query", "open_read_only"]
