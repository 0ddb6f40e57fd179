"""trellis/collector/store.py: the writer's transactions."""

from __future__ import annotations

import duckdb
import pytest

from trellis.collector import store


def test_a_transaction_left_open_by_a_failed_rollback_does_not_stop_the_writer() -> None:
    """A rollback that fails (DuckDB's memory was full) leaves the writer's transaction open and aborted:
    the next commit ends it first instead of failing forever ("Current transaction is aborted")."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER PRIMARY KEY)")
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(duckdb.Error):
        con.execute("INSERT INTO t VALUES (1)")  # the transaction is now aborted

    store._begin(con)
    con.execute("INSERT INTO t VALUES (2)")
    con.execute("COMMIT")

    assert con.execute("SELECT i FROM t").fetchall() == [(2,)]


def test_the_memory_limit_reads_as_bytes() -> None:
    with duckdb.connect(config={"memory_limit": "512MB"}) as con:
        assert store.memory_limit_bytes(con) == int(488.2 * 2**20)
