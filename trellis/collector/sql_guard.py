"""Which SQL the query API runs: one read-only statement, no file or network access.

The database itself also has external access switched off; this check comes
first so that a refused query gets a reason a person can act on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import orjson

_FILE_FUNCTIONS = {
    "glob",
    "query",
    "query_table",
    "sniff_csv",
    "getenv",
    "load_extension",
    "duckdb_secrets",
    "which_secret",
    "checkpoint",
    "force_checkpoint",
}
_FILE_PREFIXES = ("read_", "parquet_", "iceberg_", "delta_", "sqlite_", "postgres_", "mysql_")
_ALLOWED = "SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE"


class QueryRefused(ValueError):
    """The query is not one the API runs; the message says why."""


def check_query(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise QueryRefused unless ``sql`` is one read-only statement that touches no files."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"the SQL does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise QueryRefused(f"send exactly one statement, not {len(statements)}")
    statement_type = statements[0].type
    if statement_type != duckdb.StatementType.SELECT:
        name = "INSTALL/LOAD" if statement_type == duckdb.StatementType.LOAD else statement_type.name
        raise QueryRefused(f"{name} statements are not allowed; only read-only {_ALLOWED}")
    for kind, name in _references(con, sql):
        if kind == "file":
            raise QueryRefused(f"{name!r} names a file; queries read only the collector's tables")
        if _reads_outside(name):
            raise QueryRefused(
                f"function {name}() reads files or other databases or changes the store; queries may not"
            )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _reads_outside(name: str) -> bool:
    """Functions that reach files, other databases or the environment, or change the database."""
    name = name.lower()
    return name in _FILE_FUNCTIONS or name.startswith(_FILE_PREFIXES) or name.endswith("_scan")


def _references(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[tuple[str, str]]:
    row = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0]
    tree = orjson.loads(row[0]) if row else {}
    if tree.get("error"):
        raise QueryRefused(f"the SQL cannot be checked: {tree.get('error_message')}")
    yield from _walk(tree)


def _walk(node: Any) -> Iterator[tuple[str, str]]:
    """Yield ("function", name) for every function call and ("file", name) for file-like tables."""
    if isinstance(node, dict):
        if node.get("class") == "FUNCTION" and isinstance(node.get("function_name"), str):
            yield "function", node["function_name"]
        if node.get("type") == "BASE_TABLE" and _looks_like_path(str(node.get("table_name", ""))):
            yield "file", str(node.get("table_name"))
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _looks_like_path(name: str) -> bool:
    return "/" in name or "." in name or ":" in name
