import duckdb
import pytest

from trellis.collector.sql_guard import QueryRefused, check_query


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
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files"),
        ("SELECT * FROM read_text('/etc/hostname')", "read_text() reads files"),
        ("SELECT * FROM glob('/etc/*')", "glob() reads files"),
        ("SELECT * FROM '/etc/passwd'", "names a file"),
        ("SELECT * FROM query('SELECT 1')", "query() reads files"),
        ("SELECT (SELECT count(*) FROM read_parquet('x.parquet'))", "read_parquet()"),
        ("COPY t TO '/tmp/x.csv'", "COPY statements are not allowed"),
        ("ATTACH 'x.db'", "ATTACH statements are not allowed"),
        ("INSTALL httpfs", "INSTALL/LOAD statements are not allowed"),
        ("SELECT * FROM checkpoint()", "checkpoint() reads files or other databases or changes the store"),
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
