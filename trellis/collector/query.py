"""Running read-only queries beside ingest: a cursor of their own, a row, a byte and a time limit.

Rows arrive in small Arrow batches and are counted in rows and in bytes as they come, so a
statement that would return a few huge values is cut as soon as it passes the byte limit, not
after its whole answer sits in memory."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from trellis.collector.messages import first_line
from trellis.collector.sql_guard import QueryRefused, check_query


class QueryFailed(ValueError):
    """The query was allowed but DuckDB could not run it (bad column, timeout...)."""


BATCH_ROWS = 128
"""Rows per Arrow batch read from DuckDB: small, so that the byte limit is checked often."""


@dataclass
class QueryResult:
    table: pa.Table
    truncated: bool
    cut_by: str | None = None
    """Why the answer was cut: "rows" or "bytes" (None when it is whole)."""


Params = list[Any] | dict[str, Any] | None
"""Values for the statement's placeholders: a list for ``?``, a dict for ``$name``."""

_PLACEHOLDER = re.compile(r"\$([A-Za-z_]\w*)")


def named_params(query: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """Of ``values``, the ones the query's ``$name`` placeholders name, as JSON carries them (times as
    ISO text, tuples as lists): for callers that keep a set of values and write statements using some."""
    names = set(_PLACEHOLDER.findall(query))
    params = {k: _jsonable_value(v) for k, v in values.items() if k in names}
    return params or None


def _jsonable_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return list(value) if isinstance(value, tuple) else value


DURATION_HINT = (
    " (times are TIMESTAMPTZ_NS, which DuckDB does not subtract: use date_diff('millisecond', start, end), "
    "epoch_ns(end) - epoch_ns(start), or end::TIMESTAMPTZ - start::TIMESTAMPTZ)"
)


def _with_hint(message: str) -> str:
    """DuckDB's message, and how to get a duration when it refused to subtract two times."""
    return message + DURATION_HINT if "TIMESTAMPTZ_NS, TIMESTAMPTZ_NS)" in message else message


def run_query(
    cursor: duckdb.DuckDBPyConnection,
    sql: str,
    row_limit: int,
    timeout: float,
    params: Params = None,
    byte_limit: int | None = None,
) -> QueryResult:
    """Check and run ``sql`` with ``params`` bound to its placeholders, returning at most ``row_limit``
    rows and about ``byte_limit`` bytes of Arrow data; interrupted after ``timeout`` s."""
    timer = threading.Timer(timeout, cursor.interrupt)
    timer.start()
    reader: pa.RecordBatchReader | None = None
    try:
        check_query(cursor, sql)
        reader = cursor.sql(sql, params=params).to_arrow_reader(min(row_limit + 1, BATCH_ROWS))
        if reader is None:
            raise QueryFailed("the statement returned no result")
        batches, cut_by = _read_within(reader, row_limit, byte_limit)
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.InterruptException:
        raise QueryFailed(too_long(timeout)) from None
    except duckdb.Error as exc:
        raise QueryFailed(_with_hint(first_line(exc))) from None
    finally:
        timer.cancel()
        _release(reader)
    return QueryResult(table.slice(0, row_limit), cut_by is not None, cut_by)


def _release(reader: pa.RecordBatchReader | None) -> None:
    """End DuckDB's part of a stopped or cut answer here, in the thread that ran it.

    Left to Python's garbage collector (a failed query's traceback holds the reader in a cycle), it
    would be ended by whichever thread collects, inside the collection, and the collector crashed
    in native code when that happened during a decode."""
    if reader is not None:
        reader.close()


def too_long(timeout: float) -> str:
    return f"the query ran longer than {timeout:g} s and was stopped"


def _read_within(reader: pa.RecordBatchReader, row_limit: int, byte_limit: int | None) -> tuple[list[Any], str | None]:
    """Batches until the rows pass ``row_limit`` or the bytes ``byte_limit``; and which one cut them."""
    batches: list[Any] = []
    rows = size = 0
    for batch in reader:
        if byte_limit is not None and size + batch.nbytes > byte_limit:
            batches.append(_rows_within(batch, byte_limit - size))
            return batches, "bytes"
        batches.append(batch)
        rows, size = rows + batch.num_rows, size + batch.nbytes
        if rows > row_limit:
            return batches, "rows"
    return batches, None


def _rows_within(batch: pa.RecordBatch, room: int) -> pa.RecordBatch:
    """The first rows of ``batch`` that fit in ``room`` bytes (whole rows, at least none)."""
    keep = batch.num_rows
    while keep and batch.slice(0, keep).nbytes > room:
        keep //= 2
    return batch.slice(0, keep)


def arrow_ipc(table: pa.Table) -> bytes:
    """The table as an Arrow IPC stream (what ``Accept: application/vnd.apache.arrow.stream`` asks for)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def to_json_ready(table: pa.Table) -> dict[str, Any]:
    """Columns and rows as JSON values: timestamps as ISO text, maps as objects."""
    return {"columns": _json_columns(table.schema), "rows": _json_rows(table.columns)}


JSON_BATCH_BYTES = 1 << 20
"""About how much of an answer (in Arrow) is turned into Python values at a time while it is written as JSON."""


def to_json_bytes(table: pa.Table, extra: dict[str, Any]) -> bytes:
    """``{"columns": ..., "rows": ..., **extra}`` as JSON text, written about JSON_BATCH_BYTES at a time:
    only one batch is ever held as Python values, not the whole answer (``to_json_ready`` would hold it
    three times: as Arrow, as Python values and as text)."""
    pieces = [b'{"columns":', _dumps(_json_columns(table.schema)), b',"rows":[']
    first = True
    rows = max(1, JSON_BATCH_BYTES * table.num_rows // max(table.nbytes, 1))
    for batch in table.to_batches(max_chunksize=rows):
        if batch.num_rows:
            pieces += [b"" if first else b",", _dumps(_json_rows(batch.columns))[1:-1]]
            first = False
    pieces.append(b"]")
    pieces += [b"," + _dumps(key) + b":" + _dumps(value) for key, value in extra.items()]
    pieces.append(b"}")
    return b"".join(pieces)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


def _json_columns(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def _json_rows(columns: list[Any]) -> list[list[Any]]:
    arrays = [_jsonable(column) for column in columns]
    return [list(row) for row in zip(*(a.to_pylist(maps_as_pydicts="lossy") for a in arrays), strict=True)]


def _jsonable(column: Any) -> Any:
    """A column (chunked or not) with every timestamp, date and time as text."""
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


__all__ = [
    "Params",
    "QueryFailed",
    "QueryRefused",
    "QueryResult",
    "arrow_ipc",
    "named_params",
    "run_query",
    "to_json_bytes",
    "to_json_ready",
]
