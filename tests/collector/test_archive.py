"""trellis/collector/archive.py: the days leaving retention are written as hive-partitioned Parquet first,
atomically and idempotently, and DuckDB, Polars and Apache Spark read them back with the numbers Trellis
had."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trellis.collector import Client, otlp_json
from trellis.collector.archive import Archive, ArchiveFailed, micros_sql, write_part
from trellis.collector.retention import AGE, RetentionPolicy, report, sweep
from trellis.collector.store import Store
from trellis.testing import RunningCollector, finish, logs_request, metrics_request, spans_request, trellis

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
POLICY = RetentionPolicy(metrics=30, logs=14, traces=7)
OLD_DAYS = [date(2026, 1, 10), date(2026, 1, 11), date(2026, 1, 13)]
RECENT_DAY = date(2026, 2, 28)
MEASURE = {
    "otel_metrics_gauge": "sum(value)",
    "otel_metrics_sum": "sum(value)",
    "otel_metrics_histogram": 'sum("count") + sum("sum")',
    "otel_metrics_exponential_histogram": 'sum("count") + sum(zero_count)',
    "otel_metrics_summary": 'sum("sum") + sum(cardinality(quantile_values))',
    "otel_logs": "sum(severity_number) + sum(cardinality(attributes))",
    "otel_traces": "sum(duration_ns) + sum(cardinality(events)) + sum(cardinality(links))",
}
"""Per table, a figure computed from its values that DuckDB, Polars (through DuckDB's SQL on its frames)
and Spark SQL all compute alike."""
NANOS = {table: ("start_time" if table == "otel_traces" else "time") for table in AGE}
"""Per table, a time column whose nanoseconds within the second are summed, to show none is lost."""


def _ns(moment: datetime, extra: int = 0) -> str:
    return str(int(moment.timestamp()) * 1_000_000_000 + extra)


def _moments(day: date) -> list[tuple[datetime, int]]:
    """Three instants of a day, the last one nanosecond before midnight, each with sub-microsecond digits."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [(start, 123_456_789), (start + timedelta(hours=12), 1), (start + timedelta(seconds=86_399), 999_999_999)]


def _metric_requests(day: date, service: str = "archive-svc") -> list[dict[str, Any]]:
    points = [(_ns(at, extra), i + day.day) for i, (at, extra) in enumerate(_moments(day))]
    gauge = [{"asDouble": float(v), "timeUnixNano": t, "attributes": _attrs(v)} for t, v in points]
    total = [{"asInt": str(v), "timeUnixNano": t, "startTimeUnixNano": t} for t, v in points]
    histogram = [
        {"timeUnixNano": t, "count": str(v), "sum": v * 1.5, "bucketCounts": ["1", str(v - 1)], "explicitBounds": [1]}
        for t, v in points
    ]
    exponential = [
        {"timeUnixNano": t, "count": str(v), "sum": 2.0, "scale": 1, "zeroCount": "1",
         "positive": {"offset": 0, "bucketCounts": [str(v - 1)]}}
        for t, v in points
    ]  # fmt: skip
    summary = [
        {"timeUnixNano": t, "count": str(v), "sum": v * 2.0, "quantileValues": [{"quantile": 0.5, "value": 1.0}]}
        for t, v in points
    ]
    cumulative = {"aggregationTemporality": 2}
    kinds = [
        ("gauge", gauge, {}),
        ("sum", total, {**cumulative, "isMonotonic": True}),
        ("histogram", histogram, cumulative),
        ("exponentialHistogram", exponential, cumulative),
        ("summary", summary, {}),
    ]
    return [
        metrics_request(points, name=f"archive.{kind}", kind=kind, service_name=service, extra=extra)
        for kind, points, extra in kinds
    ]


def _attrs(value: int) -> list[dict[str, Any]]:
    return [{"key": "k", "value": {"stringValue": str(value)}}, {"key": "n", "value": {"intValue": str(value)}}]


def _log_request(day: date, service: str = "archive-svc") -> dict[str, Any]:
    records = [
        {"timeUnixNano": _ns(at, extra), "severityNumber": 9 + i, "body": {"stringValue": f"log {day} {i}"},
         "attributes": _attrs(i)}
        for i, (at, extra) in enumerate(_moments(day))
    ]  # fmt: skip
    return logs_request(records, service_name=service)


def _span_request(day: date, service: str = "archive-svc") -> dict[str, Any]:
    spans = [
        {
            "traceId": f"{day.toordinal():016x}{i:016x}",
            "spanId": f"{day.toordinal() * 10 + i:016x}",
            "name": f"span {i}",
            "startTimeUnixNano": _ns(at - timedelta(seconds=1), extra),
            "endTimeUnixNano": _ns(at, extra),
            "attributes": _attrs(i),
            "events": [{"timeUnixNano": _ns(at, extra), "name": "e", "attributes": _attrs(i)}],
            "links": [{"traceId": "ab" * 16, "spanId": "cd" * 8, "attributes": _attrs(i)}],
        }
        for i, (at, extra) in enumerate(_moments(day))
    ]
    return spans_request(spans, service_name=service)


def _fill(store: Store, days: list[date], service: str = "archive-svc") -> None:
    """The days' metric points of every kind, log records and spans of ``service``, through the OTLP JSON
    decoder."""
    for day in days:
        exports = [("metrics", body) for body in _metric_requests(day, service)]
        exports += [("logs", _log_request(day, service)), ("traces", _span_request(day, service))]
        for signal, body in exports:
            store.write(otlp_json.decode(signal, orjson.dumps(body)), timeout=30)  # type: ignore[arg-type]


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Factory: a collector's store (a DuckDB file and its writer) holding the old days and a recent one of
    a service."""
    stores: list[Store] = []

    def make(service: str = "archive-svc") -> Store:
        store = Store(tmp_path / f"t{len(stores)}.duckdb")
        stores.append(store)
        _fill(store, [*OLD_DAYS, RECENT_DAY], service)
        return store

    yield make
    for store in stores:
        store.close()


def _live_figures(cur: duckdb.DuckDBPyConnection, table: str) -> list[tuple[Any, ...]]:
    """Rows, the table's measure and the sub-second nanoseconds per UTC day of the expired rows, from the
    live table."""
    nanos = f"sum(epoch_ns({NANOS[table]}) % 1000000000)"
    sql = f"""SELECT CAST({AGE[table]} AS DATE) AS day, count(*), {MEASURE[table]}, {nanos}
              FROM {table} WHERE CAST({AGE[table]} AS DATE) < DATE '2026-02-01' GROUP BY 1 ORDER BY 1"""
    return [tuple(row) for row in cur.execute(sql).fetchall()]


def _archive_figures_sql(table: str, source: str) -> str:
    """The same figures over the archive (``source``: a table or view holding it), by the partition's date."""
    nanos = f"sum({NANOS[table]}_unix_nano % 1000000000)"
    return f"SELECT date, count(*), {MEASURE[table]}, {nanos} FROM {source} GROUP BY 1 ORDER BY 1"


def _glob(root: Path, table: str) -> str:
    return f"{root}/signal={table}/*/*.parquet"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, list[tuple[Any, ...]]]]]:
    """An archive swept from a store, and the figures per table and day that the live tables had before."""
    root = tmp_path_factory.mktemp("swept")
    store = Store(root / "trellis.duckdb")
    try:
        _fill(store, [*OLD_DAYS, RECENT_DAY])
        cur = store.cursor()
        expected = {table: _live_figures(cur, table) for table in AGE}
        sweep(cur, POLICY, NOW, Archive(root / "archive"))
        yield root / "archive", expected
    finally:
        store.close()


def test_a_sweep_archives_each_expired_day_before_removing_it(swept: tuple[Path, dict[str, Any]]) -> None:
    root, expected = swept
    for table, figures in expected.items():
        assert [row[0] for row in figures] == OLD_DAYS, table
        parts = sorted((root / f"signal={table}").glob("*/*"))
        assert [p.parent.name for p in parts] == [f"date={day}" for day in OLD_DAYS]
        assert all(p.name.startswith("part-") and p.suffix == ".parquet" for p in parts), parts
        assert pq.ParquetFile(parts[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_duckdb_and_polars_read_the_archive_with_the_figures_trellis_had(swept: tuple[Path, dict[str, Any]]) -> None:
    root, expected = swept
    con = duckdb.connect()
    for table, figures in expected.items():
        source = f"read_parquet('{_glob(root, table)}', hive_partitioning = true)"
        assert con.execute(_archive_figures_sql(table, source)).fetchall() == figures, table
        frame = pl.scan_parquet(_glob(root, table), hive_partitioning=True).collect()
        assert frame.schema["date"] == pl.Date
        assert con.execute(_archive_figures_sql(table, "frame")).fetchall() == figures, table


def test_times_are_microseconds_beside_their_exact_nanoseconds(swept: tuple[Path, Any]) -> None:
    root, _ = swept
    schema = pq.read_schema(next((root / "signal=otel_traces").glob("*/*.parquet")))
    assert schema.field("start_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("start_time_unix_nano").type == pa.int64()
    event = schema.field("events").type.value_type
    assert event.field("time").type == pa.timestamp("us", tz="UTC") and event.field("time_unix_nano").type == pa.int64()
    last = duckdb.sql(f"SELECT max(time), max(time_unix_nano) FROM '{_glob(root, 'otel_logs')}'").fetchall()[0]
    assert last[0] == datetime(2026, 1, 13, 23, 59, 59, 999_999, tzinfo=UTC)  # truncated, not rounded
    assert last[1] % 1_000_000_000 == 999_999_999


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_a_time_in_microseconds_is_the_same_instant_in_any_session_time_zone(zone: str) -> None:
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{zone}'")
    last = micros_sql("TIMESTAMPTZ_NS '2026-01-13 23:59:59.999999999+00'")
    assert con.execute(f"SELECT epoch_us({last})").fetchall() == [(1_768_348_799_999_999,)]


def _parts(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_day_archived_but_not_deleted_is_archived_again_as_the_same_one_part(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    """A collector stopped between the rename and the delete's commit: the rows are still live, the part is
    there; the next sweep writes the same part again, in its place."""
    store = make_store()
    cur, archive = store.cursor(), Archive(tmp_path / "archive")
    expected = {table: _live_figures(cur, table) for table in AGE}
    day = datetime(2026, 1, 10, tzinfo=UTC)
    cur.execute("BEGIN TRANSACTION")
    assert archive.write_day(cur, "otel_logs", AGE["otel_logs"], day, day + timedelta(days=1)) == 3
    cur.execute("ROLLBACK")
    before = _parts(archive.root)

    sweep(cur, POLICY, NOW, archive)

    assert set(before) < set(_parts(archive.root))
    assert len(_parts(archive.root)) == len(AGE) * len(OLD_DAYS)
    for table, figures in expected.items():
        assert duckdb.sql(_archive_figures_sql(table, f"'{_glob(archive.root, table)}'")).fetchall() == figures


def test_a_copy_left_by_a_stop_goes_when_its_day_is_archived_again_with_later_rows(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    store = make_store()
    cur, archive = store.cursor(), Archive(tmp_path / "archive")
    day = datetime(2026, 1, 10, tzinfo=UTC)
    cur.execute("BEGIN TRANSACTION")
    archive.write_day(cur, "otel_logs", AGE["otel_logs"], day, day + timedelta(days=1))
    cur.execute("ROLLBACK")  # stopped before the delete committed
    late = logs_request([{"timeUnixNano": _ns(day + timedelta(hours=3)), "body": {"stringValue": "late"}}])
    store.write(otlp_json.decode("logs", orjson.dumps(late)), timeout=30)

    sweep(cur, POLICY, NOW, archive)

    parts = list(archive.partition("otel_logs", day.date()).glob("*"))
    assert len(parts) == 1, parts
    assert duckdb.sql(f"SELECT count(*) FROM '{parts[0]}'").fetchall() == [(4,)]


def test_a_file_in_the_archive_that_is_not_a_part_is_left_alone(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    archive = Archive(tmp_path / "archive")
    stranger = archive.partition("otel_logs", OLD_DAYS[0]) / "part-stranger.parquet"
    stranger.parent.mkdir(parents=True)
    stranger.write_bytes(b"not parquet")
    sweep(make_store().cursor(), POLICY, NOW, archive)
    assert stranger.read_bytes() == b"not parquet"
    assert len(list(stranger.parent.glob("part-*.parquet"))) == 2


def test_a_day_swept_twice_keeps_one_copy_of_each_row(make_store: Callable[..., Store], tmp_path: Path) -> None:
    first, second = make_store(), make_store()
    archive = Archive(tmp_path / "archive")
    sweep(first.cursor(), POLICY, NOW, archive)
    parts = _parts(archive.root)
    sweep(second.cursor(), POLICY, NOW, archive)  # the same rows again: the same parts, replaced
    assert _parts(archive.root) == parts
    assert duckdb.sql(f"SELECT count(*) FROM '{_glob(archive.root, 'otel_traces')}'").fetchall() == [(9,)]


def test_collectors_of_other_services_archive_beside_each_other(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    archive = Archive(tmp_path / "archive")
    for service in ("checkout", "billing"):
        sweep(make_store(service).cursor(), POLICY, NOW, archive)
    assert len(_parts(archive.root)) == 2 * len(AGE) * len(OLD_DAYS)
    sql = f"SELECT service_name, count(*) FROM '{_glob(archive.root, 'otel_metrics_gauge')}' GROUP BY 1 ORDER BY 1"
    assert duckdb.sql(sql).fetchall() == [("billing", 9), ("checkout", 9)]


def test_a_part_that_fails_halfway_leaves_no_file(tmp_path: Path) -> None:
    schema = pa.schema([("x", pa.int64()), ("__trellis_row_hash", pa.uint64())])

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch([pa.array([1]), pa.array([7], pa.uint64())], schema=schema)
        raise OSError("the disk is full")

    partition = tmp_path / "signal=t" / "date=2026-01-10"
    with pytest.raises(OSError, match="disk is full"):
        write_part(pa.RecordBatchReader.from_batches(schema, batches()), partition)
    assert list(partition.iterdir()) == []


def test_a_temporary_part_left_by_a_stopped_writer_is_removed_but_not_one_being_written(tmp_path: Path) -> None:
    partition = tmp_path / "signal=t" / "date=2026-01-10"
    partition.mkdir(parents=True)
    stale, fresh = partition / ".part-stale.tmp", partition / ".part-fresh.tmp"
    for temporary in (stale, fresh):
        temporary.write_bytes(b"half a part")
    os.utime(stale, (time.time() - 2 * 3600, time.time() - 2 * 3600))
    schema = pa.schema([("x", pa.int64()), ("__trellis_row_hash", pa.uint64())])
    batch = pa.record_batch([pa.array([1]), pa.array([7], pa.uint64())], schema=schema)

    assert write_part(pa.RecordBatchReader.from_batches(schema, [batch]), partition) == 1

    assert sorted(p.name for p in partition.iterdir())[:1] == [".part-fresh.tmp"]
    assert not stale.exists() and len(list(partition.glob("part-*.parquet"))) == 1


def test_an_archive_that_cannot_be_written_stops_the_sweep_and_nothing_is_deleted(
    make_store: Callable[..., Store], tmp_path: Path
) -> None:
    store = make_store()
    cur = store.cursor()
    (tmp_path / "archive").write_text("a file where the archive's directory should be")
    rows = {t.table: t.rows for t in report(cur, POLICY, NOW)}

    with pytest.raises(ArchiveFailed) as failed:
        sweep(cur, POLICY, NOW, Archive(tmp_path / "archive"))

    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("could not archive otel_metrics_gauge of 2026-01-10 to ")
    assert message.endswith("so none of that day was deleted")
    assert failed.value.removed == {"otel_metrics_gauge": 0}
    assert {t.table: t.rows for t in report(cur, POLICY, NOW)} == rows


def test_with_an_archive_only_whole_days_expire(make_store: Callable[..., Store], tmp_path: Path) -> None:
    cur = make_store().cursor()
    late = datetime(2026, 2, 13, 18, tzinfo=UTC)  # 14 days after 2026-01-30 18:00 and 6 hours
    plain = {t.table: (t.cutoff, t.expired) for t in report(cur, POLICY, late)}
    whole = {t.table: (t.cutoff, t.expired) for t in report(cur, POLICY, late, Archive(tmp_path))}
    assert plain["otel_logs"][0] == datetime(2026, 1, 30, 18, tzinfo=UTC)
    assert whole["otel_logs"][0] == datetime(2026, 1, 30, tzinfo=UTC)
    assert whole["otel_logs"][1] == plain["otel_logs"][1] == 9


# A running collector: the setting, the API and the command.

DAY = timedelta(days=1)


@pytest.mark.slow
def test_trellis_retention_shows_what_is_archived_and_a_failing_archive_in_one_line(
    make_collector: Callable[..., RunningCollector], tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    running = make_collector("--retention-logs-days", "14", "--retention-interval-seconds", "0",
                             "--archive-dir", str(archive))  # fmt: skip
    old = datetime.now(UTC) - 40 * DAY
    with Client(running.api) as client:
        _post(running, "logs", _log_request(old.date()))
        assert client.sweep_retention()["removed"]["otel_logs"] == 3

    code, out, err = finish(trellis("retention", "--api", running.api))
    assert code == 0, err
    assert f"archived in {archive}:" in out
    row = next(line for line in out.splitlines() if line.startswith("otel_logs ") and "days" not in line)
    assert row.split()[1:4] == ["1", str(old.date()), str(old.date())]

    shutil.rmtree(archive)
    archive.write_text("not a directory")
    _post(running, "logs", _log_request(old.date()))
    code, out, err = finish(trellis("retention", "--sweep", "--api", running.api))
    assert code != 0 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert f"could not archive otel_logs of {old.date()}" in err and "so none of that day was deleted" in err
    with Client(running.api) as client:
        answer = client.retention()
    assert next(t for t in answer["tables"] if t["table"] == "otel_logs")["rows"] == 3
    assert answer["last_sweep"]["error"] in err and answer["last_sweep"]["removed"]["otel_logs"] == 0


def _post(running: RunningCollector, signal: str, body: dict[str, Any]) -> None:
    import httpx

    response = httpx.post(f"{running.otlp_http}/v1/{signal}", json=body, timeout=30)
    assert response.status_code == 200, response.text


# Apache Spark reads the archive unchanged.


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Spark session in local mode for the module (a JVM: seconds to start)."""
    if shutil.which("java") is None:
        pytest.skip("Apache Spark needs Java (17 or newer), and there is no java on PATH")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("trellis-archive-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.local.dir", str(tmp_path_factory.mktemp("spark")))
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.mark.slow
def test_spark_reads_the_archive_with_the_figures_trellis_had(spark: Any, swept: tuple[Path, Any]) -> None:
    """Every table's figures in one Spark SQL query (one job), each table read as Spark reads a directory."""
    root, expected = swept
    queries = []
    for number, table in enumerate(expected):
        spark.read.parquet(str(root / f"signal={table}")).createOrReplaceTempView(f"archived_{number}")
        figures = _archive_figures_sql(table, f"archived_{number}").replace('"', "`").split(" ORDER BY")[0]
        queries.append(f"SELECT '{table}' AS tbl, * FROM ({figures})")
    rows = spark.sql(" UNION ALL ".join(queries)).collect()
    for table, figures in expected.items():
        assert sorted(tuple(row)[1:] for row in rows if row[0] == table) == figures, table
