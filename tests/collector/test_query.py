"""collector/query.py: answers written as JSON a batch at a time are the answers as a whole."""

from __future__ import annotations

import duckdb
import orjson
import pyarrow as pa

from trellis.collector.query import JSON_BATCH_BYTES, to_json_bytes, to_json_ready


def _answer(sql: str) -> pa.Table:
    with duckdb.connect() as con:
        return con.sql(sql).to_arrow_table()


def test_an_answer_written_batch_by_batch_is_the_whole_answer_in_json() -> None:
    rows = 40_017  # several batches of JSON_BATCH_BYTES, the last one short
    table = _answer(
        f"""SELECT i, 'row ' || i || repeat('.', 40) AS text,
                   TIMESTAMP '2026-01-05 10:00:00' + INTERVAL (i) SECOND AS at,
                   MAP {{'k': i}} AS attrs, [i, NULL] AS list, CASE WHEN i % 3 = 0 THEN NULL ELSE i / 2 END AS half
            FROM range({rows}) t(i)"""
    )
    extra = {"truncated": False, "truncated_by": None}

    written = orjson.loads(to_json_bytes(table, extra))

    assert written == orjson.loads(orjson.dumps({**to_json_ready(table), **extra}, default=str))
    assert table.nbytes > 3 * JSON_BATCH_BYTES and len(written["rows"]) == rows
    assert written["rows"][4096] == [4096, "row 4096" + "." * 40, "2026-01-05 11:08:16.000000", {"k": 4096},
                                     [4096, None], 2048.0]  # fmt: skip


def test_an_empty_answer_is_valid_json_with_its_columns() -> None:
    written = orjson.loads(to_json_bytes(_answer("SELECT 1 AS one WHERE false"), {"truncated": True}))
    assert written == {"columns": [{"name": "one", "type": "int32"}], "rows": [], "truncated": True}
