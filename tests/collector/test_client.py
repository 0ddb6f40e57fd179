"""The Python client and the CLI commands that read through it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pyarrow as pa
import pytest

from tests.collector.hostile_sql import HOSTILE
from trellis.collector import Client, ClientError, CollectorRunning
from trellis.testing import (
    BASE_NS,
    KEY_STRIDE,
    PROTOBUF_HEADERS,
    RunningCollector,
    finish,
    free_port,
    metrics_export,
    start_collector,
    trellis,
)


def ingest(collector: RunningCollector, metric: str, points: int = 3) -> None:
    response = httpx.post(
        f"{collector.otlp_http}/v1/metrics",
        content=metrics_export(metric, 1, points),
        headers=PROTOBUF_HEADERS,
        timeout=30,
    )
    assert response.status_code == 200, response.text


def points_sql(metric: str) -> str:
    return (
        f"SELECT time, int_value, attributes FROM otel_metrics_gauge WHERE metric_name = '{metric}' ORDER BY int_value"
    )


def assert_points(frame: pl.DataFrame, points: int = 3) -> None:
    assert isinstance(frame, pl.DataFrame)
    assert frame.schema["time"] == pl.Datetime("ns", "UTC")
    assert frame["time"].cast(pl.Int64).to_list() == [BASE_NS + i for i in range(points)]
    assert frame["int_value"].to_list() == [KEY_STRIDE + i for i in range(points)]


def test_sql_returns_a_polars_frame_with_exact_nanoseconds(collector: RunningCollector) -> None:
    metric = f"client.{uuid.uuid4().hex[:10]}"
    ingest(collector, metric)

    with Client(collector.api) as client:
        frame = client.sql(points_sql(metric))
        table = client.arrow(points_sql(metric))
        limited = client.sql(points_sql(metric), limit=2)

    assert_points(frame)
    assert frame["attributes"].to_list() == [{"i": str(i)} for i in range(3)]
    assert isinstance(table, pa.Table)
    assert table.column("time").cast(pa.int64()).to_pylist() == [BASE_NS + i for i in range(3)]
    assert limited.height == 2


def test_client_errors_carry_the_servers_message(collector: RunningCollector, tmp_path: Path) -> None:
    target = tmp_path / "never.csv"
    with Client(collector.api) as client:
        with pytest.raises(ClientError, match=r"^400: COPY statements are not allowed"):
            client.sql(f"COPY otel_logs TO '{target}'")
        with pytest.raises(ClientError, match=r'^400: .*column "no_such_column" not found'):
            client.sql("SELECT no_such_column FROM otel_logs")
        assert client.health()["status"] == "ok"
    assert not target.exists()

    dead = f"http://127.0.0.1:{free_port()}"
    with Client(dead) as client:
        with pytest.raises(ClientError, match=f"cannot reach the collector at {dead}"):
            client.sql("SELECT 1")
        with pytest.raises(ClientError, match=f"cannot reach the collector at {dead}"):
            client.stats()


def test_client_reads_the_file_only_when_no_collector_holds_it(
    make_collector: Callable[..., RunningCollector], tmp_path: Path
) -> None:
    db = tmp_path / "client.duckdb"
    running = make_collector(db=db)
    metric = "client.file"
    ingest(running, metric)

    with pytest.raises(CollectorRunning, match=r"is held by a running collector; use Client\(url=\.\.\.\)"):
        Client(db=db)
    code, _, err = finish(trellis("query", "SELECT 1", "--db", str(db)))
    assert code == 1
    assert err.splitlines() == [f"error: {db} is held by a running collector; use Client(url=...) or take a snapshot"]

    assert running.stop() == 0
    for client in (Client(db=db), Client(str(db))):
        with client:
            assert_points(client.sql(points_sql(metric)))
            with pytest.raises(ClientError, match="CREATE statements are not allowed"):
                client.sql("CREATE TABLE scratch (a INTEGER)")
            with pytest.raises(ClientError, match="needs a running collector"):
                client.health()
            with pytest.raises(ClientError, match="snapshots come from a running collector"):
                client.snapshot(tmp_path / "never.duckdb")
    # Closing the client releases the file, unchanged, for the collector to open read-write again.
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'scratch'").fetchone() == (0,)
        assert con.execute(f"SELECT count(*) FROM otel_metrics_gauge WHERE metric_name = '{metric}'").fetchone() == (3,)

    missing = tmp_path / "missing.duckdb"
    with pytest.raises(ClientError, match="does not exist"):
        Client(db=missing)
    assert not missing.exists()


@pytest.fixture(scope="module")
def stored_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file that no collector holds, made by one that ran and stopped."""
    db = tmp_path_factory.mktemp("file-door") / "closed.duckdb"
    start_collector(db).stop()
    return db


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_statements_on_a_file_are_refused(stored_file: Path, case: str) -> None:
    """``Client(db=...)``, which ``trellis query --db`` and the dashboard's file mode use, guards like the API."""
    sql, reason = HOSTILE[case]
    with Client(db=stored_file) as client, pytest.raises(ClientError, match=re.escape(reason)):
        client.sql(sql)


def test_trellis_query_on_a_file_refuses_what_reads_the_hosts_files(stored_file: Path) -> None:
    listing = trellis("query", "SELECT * FROM glob('/etc/*')", "--db", str(stored_file))
    serialized = trellis("query", HOSTILE["serialized SQL run as a table"][0], "--db", str(stored_file))

    for process, name in ((listing, "glob"), (serialized, "json_execute_serialized_sql")):
        code, out, err = finish(process)
        assert (code, out) == (1, "")
        assert err.splitlines()[0].startswith(f"error: table function {name}() is not allowed")
        assert "/etc/passwd" not in err and "hostname" not in err


def test_the_file_is_opened_with_external_access_off(stored_file: Path) -> None:
    """Past the guard too: the connection itself cannot read a file or switch that back on."""
    with Client(db=stored_file) as client:
        connection = client._con
        assert connection is not None
        with pytest.raises(duckdb.PermissionException):
            connection.execute("SELECT * FROM read_text('/etc/hostname')").fetchall()
        with pytest.raises(duckdb.Error, match="locked"):
            connection.execute("SET enable_external_access = true")


def test_cli_query_prints_rows_and_errors_are_one_line(collector: RunningCollector, tmp_path: Path) -> None:
    target = tmp_path / "never.csv"
    metric = f"cli.{uuid.uuid4().hex[:10]}"
    ingest(collector, metric)
    sql = f"SELECT int_value FROM otel_metrics_gauge WHERE metric_name = '{metric}' ORDER BY int_value"
    dead = f"http://127.0.0.1:{free_port()}"
    # Independent commands run side by side to keep the test fast.
    table = trellis("query", sql, "--api", collector.api)
    refused = trellis("query", f"COPY otel_logs TO '{target}'", "--api", collector.api)
    unreachable = trellis("status", "--api", dead)

    code, out, err = finish(table)
    assert code == 0, err
    assert all(str(KEY_STRIDE + i) in out for i in range(3))
    assert "int_value" in out

    code, out, err = finish(refused)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "error: 400: COPY statements are not allowed; only read-only SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE"
    ]
    assert not target.exists()

    code, out, err = finish(unreachable)
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: cannot reach the collector at {dead}")


def test_client_and_cli_bind_params(collector: RunningCollector, stored_file: Path) -> None:
    metric = f"bound.{uuid.uuid4().hex[:8]}"
    ingest(collector, metric, points=4)
    sql = "SELECT count(*) AS n FROM otel_metrics_gauge WHERE metric_name = $m AND int_value >= $lo"
    cli = trellis("query", sql, "--param", f"m={metric}", "-p", f"lo={KEY_STRIDE + 2}", "--csv", "--api", collector.api)

    with Client(collector.api) as client:
        assert client.sql(sql, params={"m": metric, "lo": KEY_STRIDE + 1})["n"].to_list() == [3]
        assert client.sql("SELECT ? AS v", params=["it's"])["v"].to_list() == ["it's"]
    with Client(db=stored_file) as client:
        assert client.sql("SELECT ? + 1 AS v", params=[41])["v"].to_list() == [42]
    code, out, err = finish(cli)
    assert code == 0, err
    assert out.splitlines() == ["n", "2"]
