"""trellis/collector/sql_guard.py: one read-only statement, built-in functions only, no door to files."""

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from tests.collector.hostile_sql import HOSTILE
from trellis.collector.sql_guard import QueryRefused, check_query, open_read_only


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a INTEGER)")
    return con


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1", "WITH x AS (SELECT 1) SELECT * FROM x", "DESCRIBE t", "SHOW TABLES", "SUMMARIZE t", "FROM t"],
)
def test_read_only_statements_pass(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    check_query(con, sql)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("COPY t TO '/tmp/x.csv'", "COPY statements are not allowed"),
        ("ATTACH 'x.db'", "ATTACH statements are not allowed"),
        ("INSTALL httpfs", "INSTALL/LOAD statements are not allowed"),
        ("SELECT * FROM checkpoint()", "checkpoint() is not allowed"),
        ("LOAD httpfs", "INSTALL/LOAD statements are not allowed"),
        ("PRAGMA version", "PRAGMA statements are not allowed"),
        ("SET threads = 1", "SET statements are not allowed"),
        ("CALL pragma_version()", "CALL statements are not allowed"),
        ("EXPORT DATABASE '/tmp/x'", "EXPORT statements are not allowed"),
        ("INSERT INTO t VALUES (1)", "INSERT statements are not allowed"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELEC 1", "does not parse"),
    ],
)
def test_other_statements_are_refused_with_the_reason(con: duckdb.DuckDBPyConnection, sql: str, reason: str) -> None:
    with pytest.raises(QueryRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_query(con, sql)


@pytest.mark.parametrize("case", HOSTILE)
def test_every_hostile_statement_is_refused_with_its_reason(con: duckdb.DuckDBPyConnection, case: str) -> None:
    sql, reason = HOSTILE[case]
    with pytest.raises(QueryRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_query(con, sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT row_number() OVER (), sum(a) OVER (), count(*) FROM t GROUP BY a",
        "SELECT unnest([1, 2]), list_transform([1], lambda x: x + 1), {'k': 1}, a::VARCHAR LIKE '1%' FROM t",
        "SELECT * FROM range(3) JOIN generate_series(1, 2) ON true",
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views()",
        "SELECT * FROM duckdb_columns() WHERE table_name = 't'",
        "SELECT date_trunc('hour', now()), epoch_ns(now()::TIMESTAMP_NS), strftime(now(), '%Y')",
        "SELECT json_extract('{\"a\": 1}', '$.a'), regexp_matches('x', 'x'), coalesce(NULL, 1)",
        "SELECT lpad(a::VARCHAR, 8, '0'), rpad('x', 20, ' '), repeat('ab', 100), repeat(a::VARCHAR, 3) FROM t",
        "SELECT bar(a, 0, 10), bar(a, 0, 10, 20) FROM t",
        "SELECT range(5), generate_series(1, 10, 2), list_resize([1], 4), printf('%08.2f|%-10s', 1.5, 'x')",
        "SELECT format('{} {:>12}', 1, 'x'), len(range(0, 16000))",
    ],
)
def test_ordinary_analysis_passes(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    check_query(con, sql)
    con.execute(sql).fetchall()


def test_a_connection_opened_for_reading_cannot_reach_files_even_past_the_guard(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    duckdb.connect(str(path)).close()
    con = open_read_only(path)
    try:
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_text('/etc/hostname')").fetchall()
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_external_access = true")
    finally:
        con.close()


def test_threads_that_open_one_file_at_once_all_get_a_locked_connection(tmp_path: Path) -> None:
    """The dashboard reads ahead on several threads: each opens the file, and only one may set it up (the
    others found the configuration locked mid-way and failed)."""
    path = tmp_path / "store.duckdb"
    duckdb.connect(str(path)).close()

    def open_one(start: threading.Barrier) -> str:
        start.wait()
        con = open_read_only(path)
        try:
            return str(con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0])
        finally:
            con.close()

    for _ in range(20):
        start = threading.Barrier(8)
        with ThreadPoolExecutor(8) as pool:
            zones = list(pool.map(open_one, [start] * 8))
        assert zones == ["UTC"] * 8
