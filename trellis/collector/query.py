"""Running read-only queries beside ingest: a cursor of their own, a row and a time limit."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from trellis.collector.sql_guard import QueryRefused, check_query


class QueryFailed(ValueError):
    """The query was allowed but DuckDB could not run it (bad column, timeout...)."""


@dataclass
class QueryResult:
    table: pa.Table
    truncated: bool


def run_query(cursor: duckdb.DuckDBPyConnection, sql: str, row_limit: int, timeout: float) -> QueryResult:
    """Check and run ``sql``, returning at most ``row_limit`` rows; interrupted after ``timeout`` s."""
    check_query(cursor, sql)
    timer = threading.Timer(timeout, cursor.interrupt)
    timer.start()
    try:
        reader = cursor.sql(sql).to_arrow_reader(min(row_limit + 1, 100_000))
        if reader is None:
            raise QueryFailed("the statement returned no result")
        batches, rows = [], 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > row_limit:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.InterruptException:
        raise QueryFailed(f"the query ran longer than {timeout:g} s and was stopped") from None
    except duckdb.Error as exc:
        raise QueryFailed(str(exc).strip().splitlines()[0]) from None
    finally:
        timer.cancel()
    return QueryResult(table.slice(0, row_limit), table.num_rows > row_limit)


def to_json_ready(table: pa.Table) -> dict[str, Any]:
    """Columns and rows as JSON values: timestamps as ISO text, maps as objects."""
    columns = [{"name": f.name, "type": str(f.type)} for f in table.schema]
    arrays = [_jsonable(column) for column in table.columns]
    rows = [list(row) for row in zip(*(a.to_pylist(maps_as_pydicts="lossy") for a in arrays), strict=True)]
    return {"columns": columns, "rows": rows}


def _jsonable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    target = _json_type(column.type)
    return column if target == column.type else column.cast(target)


def _json_type(kind: pa.DataType) -> pa.DataType:
    """The type with every timestamp, date and time (also inside lists, structs and maps) as text."""
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind):
        return pa.string()
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(_json_type(kind.value_type)))
    if pa.types.is_large_list(kind):
        return pa.large_list(kind.value_field.with_type(_json_type(kind.value_type)))
    if pa.types.is_map(kind):
        return pa.map_(_json_type(kind.key_type), _json_type(kind.item_type))
    if pa.types.is_struct(kind):
        return pa.struct([f.with_type(_json_type(f.type)) for f in kind])
    return kind


__all__ = ["QueryFailed", "QueryRefused", "QueryResult", "run_query", "to_json_ready"]
