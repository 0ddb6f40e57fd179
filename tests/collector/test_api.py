"""The collector's API: /api/v1/query (JSON and Arrow), its guards and limits, /stats and snapshots."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow as pa
import pytest

from tests.collector.hostile_sql import HOSTILE
from tests.conftest import ROOT
from trellis.collector.schema import SCHEMA_VERSION, TABLES
from trellis.testing import (
    BASE_NS,
    KEY_STRIDE,
    PROTOBUF_HEADERS,
    RunningCollector,
    metrics_export,
    start_collector,
    stored_exports,
)

ARROW_STREAM = "application/vnd.apache.arrow.stream"
ROW_LIMIT = 50
TIMEOUT = 2.0
SLOW_QUERY = "SELECT count(*) FROM range(100000000) a, range(1000) b"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """A collector of this module's own, with a small row limit and a short query time limit."""
    db = tmp_path_factory.mktemp("api-limits") / "trellis.duckdb"
    running = start_collector(
        db, "--query-row-limit", str(ROW_LIMIT), "--query-timeout-seconds", str(TIMEOUT)
    )  # fmt: skip
    yield running
    running.stop()


def query(collector: RunningCollector, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{collector.api}/api/v1/query", json=body, timeout=30, **kwargs)


def ingest(collector: RunningCollector, metric: str, key: int = 1, points: int = 3) -> None:
    response = httpx.post(
        f"{collector.otlp_http}/v1/metrics",
        content=metrics_export(metric, key, points),
        headers=PROTOBUF_HEADERS,
        timeout=30,
    )
    assert response.status_code == 200, response.text


def unique_metric(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


# --- /api/v1/query ---------------------------------------------------------------------------------


TIME_COLUMNS = [
    *((table, c.name) for table, columns in TABLES.items() for c in columns if c.sql == "TIMESTAMPTZ_NS"),
    ("deployments", "finished_at"),
    ("deployments", "first_commit_at"),
    ("incidents", "opened_at"),
    ("incidents", "resolved_at"),
]


@pytest.mark.parametrize(("table", "column"), TIME_COLUMNS, ids=[f"{t}.{c}" for t, c in TIME_COLUMNS])
def test_natural_time_filters_work_on_every_time_column(collector: RunningCollector, table: str, column: str) -> None:
    """The first queries people write: the last hour, and a range of dates."""
    for where in (f"{column} > now() - INTERVAL 1 HOUR", f"{column} BETWEEN '2026-01-01' AND '2026-02-01'",
                  f"{column} >= TIMESTAMP '2026-01-01 12:00:00'", f"{column} < current_date + 1"):  # fmt: skip
        response = query(collector, {"sql": f"SELECT count(*) AS n FROM {table} WHERE {where}"})
        assert response.status_code == 200, f"{where}: {response.text}"


def test_natural_time_filters_work_on_every_time_column_of_every_table(make_collector: Any) -> None:
    """Signal tables, deployments and incidents, the catalog's and the analytics' tables alike."""
    running = make_collector("--analytics-interval-seconds", "0")
    ingest(running, unique_metric("api.every"))
    assert httpx.post(f"{running.api}/api/v1/analyze", json={}, timeout=120).status_code == 200
    sql = (
        "SELECT table_name, column_name FROM duckdb_columns() WHERE internal = false "
        "AND (data_type LIKE 'TIMESTAMP%' OR data_type = 'DATE') ORDER BY ALL"
    )
    listed = query(running, {"sql": sql})
    columns = [tuple(row) for row in listed.json()["rows"]]
    assert {t for t, _ in columns} >= {*TABLES, "deployments", "catalog_audit", "analytics_dora"}
    for table, column in columns:
        name = f'"{column}"'
        for where in (f"{name} > now() - INTERVAL 1 HOUR", f"{name} BETWEEN '2026-01-01' AND '2026-02-01'"):
            response = query(running, {"sql": f"SELECT count(*) AS n FROM {table} WHERE {where}"})
            assert response.status_code == 200, f"{table}: {where}: {response.text}"


def test_a_duration_between_two_times_is_explained_when_duckdb_refuses_it(collector: RunningCollector) -> None:
    refused = query(collector, {"sql": "SELECT end_time - start_time FROM otel_traces"})
    assert refused.status_code == 400
    assert "use date_diff('millisecond', start, end)" in refused.json()["error"]
    for duration in ("date_diff('millisecond', start_time, end_time)", "epoch_ns(end_time) - epoch_ns(start_time)",
                     "end_time::TIMESTAMPTZ - start_time::TIMESTAMPTZ"):  # fmt: skip
        assert query(collector, {"sql": f"SELECT {duration} FROM otel_traces"}).status_code == 200, duration


def test_a_time_range_in_sql_counts_the_points_in_it(collector: RunningCollector) -> None:
    metric = unique_metric("api.range")
    ingest(collector, metric)  # three points at 2026-01-01 12:00:00 UTC and a few nanoseconds
    counted = {
        where: query(collector, {"sql": f"SELECT count(*) AS n FROM otel_metrics_gauge WHERE metric_name = "
                                        f"'{metric}' AND {where}"}).json()["rows"][0][0]
        for where in ("time BETWEEN '2026-01-01' AND '2026-01-02'", "time >= TIMESTAMPTZ '2026-01-01 13:00:00+01'",
                      "time > TIMESTAMP '2026-01-01 12:00:00'", "time > now() - INTERVAL 1 HOUR")
    }  # fmt: skip
    assert list(counted.values()) == [3, 3, 2, 0]


def test_query_answers_columns_rows_and_truncated(collector: RunningCollector) -> None:
    metric = unique_metric("api.json")
    ingest(collector, metric)
    sql = (
        "SELECT metric_name, int_value, time, attributes FROM otel_metrics_gauge "
        f"WHERE metric_name = '{metric}' ORDER BY int_value"
    )

    response = query(collector, {"sql": sql})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "columns": [
            {"name": "metric_name", "type": "string"},
            {"name": "int_value", "type": "int64"},
            {"name": "time", "type": "timestamp[ns, tz=UTC]"},
            {"name": "attributes", "type": "map<string, string>"},
        ],
        "rows": [[metric, KEY_STRIDE + i, f"2026-01-01 12:00:00.00000000{i}Z", {"i": str(i)}] for i in range(3)],
        "truncated": False,
        "truncated_by": None,
    }


def test_query_answers_an_arrow_stream_when_asked(collector: RunningCollector) -> None:
    metric = unique_metric("api.arrow")
    ingest(collector, metric)
    sql = f"SELECT int_value, time FROM otel_metrics_gauge WHERE metric_name = '{metric}' ORDER BY int_value"

    response = query(collector, {"sql": sql}, headers={"Accept": ARROW_STREAM})

    assert response.status_code == 200
    assert response.headers["content-type"] == ARROW_STREAM
    assert response.headers["x-trellis-truncated"] == "false"
    with pa.ipc.open_stream(response.content) as reader:
        table = reader.read_all()
    assert table.schema.field("time").type == pa.timestamp("ns", tz="UTC")
    assert table.column("time").cast(pa.int64()).to_pylist() == [BASE_NS + i for i in range(3)]
    assert table.column("int_value").to_pylist() == [KEY_STRIDE + i for i in range(3)]


def _fingerprint(collector: RunningCollector) -> list[Any]:
    """What a refused statement must not change: attached databases, tables and their sizes. (Settings
    cannot be read through the API, and cannot be changed: the configuration is locked.)"""
    sql = (
        "SELECT (SELECT list(DISTINCT database_name ORDER BY database_name) FROM duckdb_schemas()) AS dbs, "
        "(SELECT list((table_name, estimated_size) ORDER BY table_name) FROM duckdb_tables()) AS tables"
    )
    response = query(collector, {"sql": sql})
    assert response.status_code == 200, response.text
    return list(response.json()["rows"])


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() is not allowed"),
        ("SELECT * FROM '/etc/passwd'", "'/etc/passwd' names a file"),
        ("COPY otel_logs TO '{tmp}/out.csv'", "COPY statements are not allowed"),
        ("ATTACH '{tmp}/other.duckdb' AS other", "ATTACH statements are not allowed"),
        ("INSTALL httpfs", "statements are not allowed"),
        ("PRAGMA enable_profiling", "PRAGMA statements are not allowed"),
        ("SET threads = 1", "SET statements are not allowed"),
        ("DELETE FROM otel_logs", "DELETE statements are not allowed"),
        ("DROP TABLE deployments", "DROP statements are not allowed"),
        ("SELECT 1; DROP TABLE deployments", "send exactly one statement, not 2"),
        ("SELEC 1", "the SQL does not parse"),
        ("SELECT no_such_column FROM deployments", 'column "no_such_column" not found'),
        ("SELECT * FROM no_such_table", "no_such_table does not exist"),
    ],
)
def test_refused_statements_answer_400_with_the_reason_and_change_nothing(
    collector: RunningCollector, tmp_path: Path, sql: str, reason: str
) -> None:
    before = _fingerprint(collector)

    response = query(collector, {"sql": sql.format(tmp=tmp_path)})

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert _fingerprint(collector) == before
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_statements_through_the_api_are_refused(collector: RunningCollector, case: str) -> None:
    sql, reason = HOSTILE[case]
    response = query(collector, {"sql": sql})

    assert response.status_code == 400
    assert reason in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"sql": ', "invalid request: body: Invalid JSON"),
        (b'{"sql": "SELECT 1", "format": "csv"}', "invalid request: format: Extra inputs are not permitted"),
        (b"{}", "invalid request: sql: Field required"),
        (b'{"sql": ""}', "invalid request: sql: String should have at least 1 character"),
        (b'{"sql": 5}', "invalid request: sql: Input should be a valid string"),
        (b'{"sql": "SELECT 1", "limit": 0}', "invalid request: limit: Input should be greater than or equal to 1"),
        (b"[]", "invalid request: body: Input should be an object"),
    ],
)
def test_bad_request_bodies_answer_400_naming_the_field(collector: RunningCollector, body: bytes, message: str) -> None:
    response = httpx.post(f"{collector.api}/api/v1/query", content=body, timeout=30)

    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_the_row_limit_truncates_and_says_so(limited: RunningCollector) -> None:
    response = query(limited, {"sql": "SELECT * FROM range(1000) ORDER BY 1"})
    assert response.status_code == 200
    assert response.json()["rows"] == [[i] for i in range(ROW_LIMIT)]
    assert response.json()["truncated"] is True

    exact = query(limited, {"sql": f"SELECT * FROM range({ROW_LIMIT})"}).json()
    assert (len(exact["rows"]), exact["truncated"]) == (ROW_LIMIT, False)

    smaller = query(limited, {"sql": "SELECT * FROM range(1000)", "limit": 10}).json()
    assert (len(smaller["rows"]), smaller["truncated"]) == (10, True)

    # A client's limit cannot raise the server's.
    larger = query(limited, {"sql": "SELECT * FROM range(1000)", "limit": 500}).json()
    assert (len(larger["rows"]), larger["truncated"]) == (ROW_LIMIT, True)

    arrow = query(limited, {"sql": "SELECT * FROM range(1000)"}, headers={"Accept": ARROW_STREAM})
    assert arrow.headers["x-trellis-truncated"] == "true"
    with pa.ipc.open_stream(arrow.content) as reader:
        assert reader.read_all().num_rows == ROW_LIMIT


def test_a_slow_query_is_stopped_while_ingest_keeps_working(limited: RunningCollector) -> None:
    metric = unique_metric("api.during")
    answer: dict[str, Any] = {}

    def slow() -> None:
        started = time.monotonic()
        answer["response"] = query(limited, {"sql": SLOW_QUERY})
        answer["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=slow)
    thread.start()
    acknowledged_during_query = 0
    key = 0
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=30) as http:
        while thread.is_alive() and time.monotonic() < deadline:
            key += 1
            response = http.post(
                f"{limited.otlp_http}/v1/metrics", content=metrics_export(metric, key, 100), headers=PROTOBUF_HEADERS
            )
            assert response.status_code == 200
            if thread.is_alive():
                acknowledged_during_query += 1
    thread.join(30)

    response = answer["response"]
    assert response.status_code == 400
    assert response.json()["error"] == f"the query ran longer than {TIMEOUT:g} s and was stopped"
    assert TIMEOUT <= answer["seconds"] < 10
    assert acknowledged_during_query >= 1, "exports should be acknowledged while a long query runs"
    stored = query(
        limited,
        {
            "sql": f"SELECT count(DISTINCT int_value // {KEY_STRIDE}), count(*) FROM otel_metrics_gauge "
            f"WHERE metric_name = '{metric}'"
        },
    )
    assert stored.json()["rows"] == [[key, key * 100]]
    # The collector answers the next query normally.
    assert query(limited, {"sql": "SELECT 42 AS answer"}).json()["rows"] == [[42]]


# --- /api/v1/stats -----------------------------------------------------------------------------


def test_stats_move_after_an_export(limited: RunningCollector) -> None:
    before = httpx.get(f"{limited.api}/api/v1/stats", timeout=30).json()
    # 7 gauge points and one metric without data, which is rejected.
    body = metrics_export(unique_metric("api.stats"), 1, 7)
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest.FromString(body)
    request.resource_metrics[0].scope_metrics[0].metrics.add(name="empty")
    response = httpx.post(
        f"{limited.otlp_http}/v1/metrics", content=request.SerializeToString(), headers=PROTOBUF_HEADERS, timeout=30
    )
    assert response.status_code == 200

    after = httpx.get(f"{limited.api}/api/v1/stats", timeout=30).json()
    assert set(TABLES) | {"deployments", "incidents"} <= set(after["tables"])
    assert after["tables"]["otel_metrics_gauge"] == before["tables"]["otel_metrics_gauge"] + 7
    assert after["tables"]["otel_logs"] == before["tables"]["otel_logs"]
    assert after["points_ingested"] == before["points_ingested"] + 7
    assert after["points_rejected"] == before["points_rejected"] + 1
    assert after["commits"] == before["commits"] + 1
    assert after["write_queue_points"] == 0
    assert after["last_commit_at"] is not None
    assert before["last_commit_at"] is None or after["last_commit_at"] > before["last_commit_at"]
    assert abs(after["last_commit_at"] - time.time()) < 60
    assert after["ingest_rate_per_s"] > 0


def test_stats_count_a_deployment_sent_again_once(limited: RunningCollector) -> None:
    before = httpx.get(f"{limited.api}/api/v1/stats", timeout=30).json()["tables"]
    dep = f"stats-{uuid.uuid4().hex[:10]}"
    for status, seconds in [("failed", 0), ("failed", 0), ("succeeded", 60)]:
        record = {
            "eventName": "trellis.deployment",
            "timeUnixNano": str(BASE_NS + seconds * 1_000_000_000),
            "attributes": [
                {"key": "deployment.id", "value": {"stringValue": dep}},
                {"key": "deployment.status", "value": {"stringValue": status}},
            ],
        }
        export = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
        assert httpx.post(f"{limited.otlp_http}/v1/logs", json=export, timeout=30).status_code == 200

    after = httpx.get(f"{limited.api}/api/v1/stats", timeout=30).json()["tables"]
    assert after["otel_logs"] == before["otel_logs"] + 3
    assert after["deployments"] == before["deployments"] + 1


# --- snapshots ---------------------------------------------------------------------------------


def test_trellis_snapshot_copies_the_database_while_ingest_continues(
    collector: RunningCollector, tmp_path: Path
) -> None:
    metric = unique_metric("api.snapshot")
    ingest(collector, metric, key=0, points=500)  # committed before the snapshot: must be in it
    stop = threading.Event()
    acknowledged: list[int] = []

    def keep_ingesting() -> None:
        with httpx.Client(timeout=30) as http:
            for key in range(1, 2_000):
                if stop.is_set():
                    return
                response = http.post(
                    f"{collector.otlp_http}/v1/metrics",
                    content=metrics_export(metric, key, 500),
                    headers=PROTOBUF_HEADERS,
                )
                assert response.status_code == 200
                acknowledged.append(key)

    thread = threading.Thread(target=keep_ingesting)
    thread.start()
    out = tmp_path / "out" / "snapshot.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "trellis", "snapshot", str(out), "--api", collector.api],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        during = len(acknowledged)
    finally:
        stop.set()
        thread.join(60)

    assert result.returncode == 0, result.stderr
    assert f"snapshot written to {out}" in result.stdout
    assert during > 0, "ingest should go on while the snapshot is taken"
    assert not out.with_name(out.name + ".part").exists()
    with duckdb.connect(str(out), read_only=True) as con:
        rows = con.execute(
            f"SELECT int_value // {KEY_STRIDE} AS key, count(*) FROM otel_metrics_gauge "
            f"WHERE metric_name = '{metric}' GROUP BY key"
        ).fetchall()
        tables = {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        version = con.execute("SELECT max(version) FROM trellis_schema").fetchone()
    stored = dict(rows)
    assert stored[0] == 500
    assert set(stored.values()) == {500}, "a snapshot holds whole exports only"
    assert set(TABLES) | {"deployments", "incidents", "trellis_schema"} <= tables
    assert version == (SCHEMA_VERSION,)
    # The collector keeps no copy behind.
    snapshots = collector.db.parent / f".{collector.db.name}.snapshots"
    deadline = time.monotonic() + 10
    while any(snapshots.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(snapshots.iterdir()) == []
    assert stored_exports(collector.api, metric) == dict.fromkeys([0, *acknowledged], 500)


def test_a_failing_route_answers_500_with_a_request_id_that_is_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Any route that fails unexpectedly: the answer names an id, and the log has it with the traceback."""
    from starlette.testclient import TestClient

    from trellis.collector.api import ApiContext, Caller, build_api
    from trellis.collector.auth import Authenticator, Scope
    from trellis.collector.settings import CollectorSettings
    from trellis.collector.store import Store

    async def broken(request: Any, caller: Caller) -> Any:
        raise RuntimeError("the disk said no")

    store = Store(tmp_path / "api.duckdb")
    ctx = ApiContext(store, Authenticator(None), CollectorSettings(db=tmp_path / "api.duckdb"))
    try:
        app = build_api(ctx, [lambda c: c.add("/api/v1/broken", broken, Scope.READ, ["GET"])])
        with caplog.at_level("ERROR", logger="trellis.api"), TestClient(app) as client:
            response = client.get("/api/v1/broken")
    finally:
        store.close()

    assert response.status_code == 500
    request_id = response.json()["request_id"]
    assert response.json()["error"] == f"the collector failed; report request id {request_id}"
    assert response.headers["x-request-id"] == request_id
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "GET /api/v1/broken" in logged[0].getMessage()
    assert "the disk said no" not in response.text


def test_placeholders_are_bound_to_params_and_never_pasted_into_the_sql(collector: RunningCollector) -> None:
    metric = f"params.{uuid.uuid4().hex[:8]}"
    ingest(collector, metric, points=5)
    sql = "SELECT count(*) AS n FROM otel_metrics_gauge WHERE metric_name = ? AND int_value % ? = 0"
    positional = query(collector, {"sql": sql, "params": [metric, 2]})
    named = query(
        collector,
        {"sql": "SELECT count(*) AS n FROM otel_metrics_gauge WHERE metric_name = $m", "params": {"m": metric}},
    )
    injected = query(
        collector,
        {
            "sql": "SELECT count(*) AS n FROM otel_metrics_gauge WHERE metric_name = ?",
            "params": [f"{metric}' OR '1'='1"],
        },
    )

    assert positional.status_code == 200 and positional.json()["rows"] == [[3]]
    assert named.status_code == 200 and named.json()["rows"] == [[5]]
    assert injected.status_code == 200 and injected.json()["rows"] == [[0]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"sql": "SELECT ?", "params": []}, "parameter"),
        ({"sql": "SELECT $a", "params": {"b": 1}}, "parameter"),
        ({"sql": "SELECT ?", "params": [{"a": 1}]}, "invalid request: params"),
        ({"sql": "SELECT ?", "params": [[[1]]]}, "invalid request: params"),
    ],
)
def test_params_that_do_not_fit_answer_400(collector: RunningCollector, body: dict[str, Any], message: str) -> None:
    response = query(collector, body)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.fixture(scope="module")
def small_bodies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(
        tmp_path_factory.mktemp("small-bodies") / "trellis.duckdb", "--max-api-body-bytes", "2048"
    )
    yield running
    running.stop()


@pytest.mark.parametrize("path", ["/api/v1/query", "/api/v1/catalog/apply", "/api/v1/analyze"])
def test_api_bodies_over_the_limit_get_413_declared_or_streamed(small_bodies: RunningCollector, path: str) -> None:
    big = b'{"sql": "SELECT 1", "pad": "' + b"x" * 4096 + b'"}'

    declared = httpx.post(f"{small_bodies.api}{path}", content=big, timeout=30)

    def chunks() -> Iterator[bytes]:
        yield from (big[i : i + 512] for i in range(0, len(big), 512))

    streamed = httpx.post(f"{small_bodies.api}{path}", content=chunks(), timeout=30)
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "the request body is larger than 2048 bytes"
    assert query(small_bodies, {"sql": "SELECT 1"}).status_code == 200


@pytest.fixture(scope="module")
def byte_limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(
        tmp_path_factory.mktemp("byte-limited") / "trellis.duckdb", "--query-byte-limit", str(1 << 20)
    )
    yield running
    running.stop()


@pytest.mark.parametrize("accept", ["json", "arrow"])
def test_an_answer_is_cut_at_the_byte_limit_and_says_so(byte_limited: RunningCollector, accept: str) -> None:
    """A few rows of huge values: cut at about 1 MiB of data, not held whole (it once took 4 GiB)."""
    sql = "SELECT i, repeat('x', 16000) AS s FROM range(8000) t(i)"
    headers = {"Accept": "application/vnd.apache.arrow.stream"} if accept == "arrow" else {}

    response = httpx.post(f"{byte_limited.api}/api/v1/query", json={"sql": sql}, headers=headers, timeout=60)

    assert response.status_code == 200, response.text[:200]
    assert response.headers["x-trellis-truncated"] == "true"
    assert response.headers["x-trellis-truncated-by"] == "bytes"
    assert len(response.content) < 2 << 20
    if accept == "json":
        answer = response.json()
        assert (answer["truncated"], answer["truncated_by"]) == (True, "bytes")
        assert 0 < len(answer["rows"]) <= 80
        assert [row[0] for row in answer["rows"]] == list(range(len(answer["rows"])))


def test_an_answer_under_both_limits_is_whole(byte_limited: RunningCollector) -> None:
    response = query(byte_limited, {"sql": "SELECT * FROM range(1000)"})
    assert response.status_code == 200
    assert (response.json()["truncated"], response.json()["truncated_by"], len(response.json()["rows"])) == (
        False,
        None,
        1000,
    )


def test_a_list_param_binds_for_list_contains(collector: RunningCollector) -> None:
    sql = "SELECT count(*) AS n FROM range(10) t(i) WHERE list_contains($wanted, CAST(i AS VARCHAR))"
    response = query(collector, {"sql": sql, "params": {"wanted": ["1", "3", "x') OR ('1'='1"]}})
    assert response.status_code == 200 and response.json()["rows"] == [[2]]
