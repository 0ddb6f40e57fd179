"""trellis/analytics/rollups.py: hourly usage rollups kept as points are committed equal what the reference
computes from the raw points (each point once), however the points came: out of order, late (after their
hour was rolled up), twice, with counter resets and gaps."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.analytics.reference import assert_same_utilization
from trellis.analytics import rollups, sketch, usage_pass, utilization
from trellis.analytics.cost import _containers, _containers_in_polars
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.metrics import LOOKBACK, read_intervals
from trellis.analytics.sources import Period, Sources
from trellis.collector import Client, otlp_json
from trellis.collector.store import Store
from trellis.testing import RunningCollector, metrics_request

START = datetime(2026, 3, 2, 6, tzinfo=UTC)
HOURS = 5
END = START + timedelta(hours=HOURS)
NOW = END + timedelta(hours=2)
"""Every hour of the history has ended: the rollups roll all of them up."""


def _ns(moment: datetime) -> str:
    return str(int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000)


def _times(rng: random.Random) -> list[datetime]:
    """Points every 20 s to 9 min (gaps longer than a gauge holds its value, shorter than the lookback)."""
    times, moment = [], START - timedelta(minutes=rng.randint(0, 9))
    while moment < END + timedelta(minutes=3):
        times.append(moment)
        moment += timedelta(seconds=rng.choice([20, 30, 60, 60, 120, 400, 540]))
    return times


def _counter(rng: random.Random, workload: str) -> list[dict[str, Any]]:
    """A cumulative CPU counter with resets: a new start time, or a value that drops with the same one."""
    points, value, started = [], 50.0, START - timedelta(days=1)
    for moment in _times(rng):
        roll = rng.random()
        if roll < 0.04:
            started, value = moment - timedelta(seconds=rng.randint(1, 15)), rng.uniform(0, 5)
        elif roll < 0.07:
            value = rng.uniform(0, value / 2)
        else:
            value += rng.uniform(0, 2.0)
        points.append({"asDouble": value, "timeUnixNano": _ns(moment), "startTimeUnixNano": _ns(started)})
    return points


def _gauge(rng: random.Random) -> list[dict[str, Any]]:
    return [{"asDouble": rng.uniform(1e8, 4e9), "timeUnixNano": _ns(moment)} for moment in _times(rng)]


def _exports(rng: random.Random) -> list[bytes]:
    """Exports of a few points each, in random order, some of them sent twice (an exporter's retry)."""
    exports = []
    for workload in ("api", "worker"):
        counter = _counter(rng, workload)
        gauge = _gauge(rng)
        for points, kind, name, extra in (
            (counter, "sum", "container.cpu.time", {"aggregationTemporality": 2, "isMonotonic": True}),
            (gauge, "gauge", "container.memory.working_set", {}),
        ):
            for i in range(0, len(points), 7):
                body = metrics_request(points[i : i + 7], name=name, kind=kind, service_name=workload, extra=extra)
                exports.append(orjson.dumps(body))
    rng.shuffle(exports)
    return exports + rng.sample(exports, len(exports) // 5)


def _send(store: Store, minutes: list[int] | range, value: float = 1e9) -> None:
    """Working-set points of one series at these minutes after START, committed."""
    points = [{"asDouble": value, "timeUnixNano": _ns(START + timedelta(minutes=m))} for m in minutes]
    body = metrics_request(points, name="container.memory.working_set")
    store.submit(otlp_json.decode("metrics", orjson.dumps(body))).result(30)


def _settled(service: rollups.RollupService, now: datetime) -> list[datetime]:
    """What a turn rolls up once the points have stopped coming: while they come (newer points since the turn
    before), a turn leaves the hours they have not moved LATENESS past (``rollups.due_hours``)."""
    return sorted(set(service.turn(now=now) + service.turn(now=now)))


def _store(tmp_path: Path, exports: list[bytes], rolls_between: int) -> Store:
    """A store that took the exports, the rollups taking turns in between, so that some points come late."""
    store = Store(tmp_path / "trellis.duckdb")
    service = rollups.RollupService(store)
    step = max(1, len(exports) // (rolls_between + 1))
    for i in range(0, len(exports), step):
        for body in exports[i : i + step]:
            store.submit(otlp_json.decode("metrics", body)).result(30)
        service.turn(now=NOW)
    while _settled(service, NOW):
        pass
    return store


def _from_rollups(store: Store, start: datetime = START, end: datetime = END) -> pl.DataFrame:
    """The rollups' sums over the hours from ``start`` to ``end``."""
    frame = pl.from_arrow(
        store.cursor()
        .sql(
            f"""SELECT workload, metric_name, sum(weighted) AS weighted, sum(seconds) AS seconds,
                       sum(samples) AS samples
                FROM {rollups.HOURLY} WHERE hour >= $start AND hour < $end GROUP BY ALL ORDER BY ALL""",
            params={"start": start, "end": end},
        )
        .to_arrow_table()
    )
    assert isinstance(frame, pl.DataFrame)
    return frame


def _daily(store: Store) -> pl.DataFrame:
    """The daily rollups' sums, as ``_from_rollups`` gives the hourly ones (the history is within one day)."""
    frame = pl.from_arrow(
        store.cursor()
        .sql(
            f"""SELECT workload, metric_name, sum(weighted) AS weighted, sum(seconds) AS seconds,
                       sum(samples) AS samples
                FROM {rollups.DAILY} WHERE day = $day GROUP BY ALL ORDER BY ALL""",
            params={"day": START.replace(hour=0)},
        )
        .to_arrow_table()
    )
    assert isinstance(frame, pl.DataFrame)
    return frame


def _reference(store: Store) -> pl.DataFrame:
    """The same sums from every interval the raw points make over the whole history at once."""
    period = Period(START.replace(tzinfo=None), END.replace(tzinfo=None))
    intervals = read_intervals(Sources(store.cursor()), period, lookahead=LOOKBACK)
    metric = (
        pl.when(pl.col("resource") == "cpu")
        .then(pl.lit("container.cpu.time"))
        .otherwise(pl.lit("container.memory.working_set"))
    )
    return (
        intervals.with_columns(metric_name=metric)
        .group_by("workload", "metric_name")
        .agg(
            weighted=(pl.col("value") * pl.col("seconds")).sum(),
            seconds=pl.col("seconds").sum(),
            samples=pl.col("sample").sum().cast(pl.Int64),
        )
        .sort("workload", "metric_name")
    )


@pytest.mark.parametrize("seed", range(4))
def test_rollups_equal_the_raw_points_whatever_order_lateness_and_repeats(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = _store(tmp_path, _exports(rng), rolls_between=rng.randint(1, 4))
    try:
        hours = store.cursor().execute(f"SELECT count(*) FROM {rollups.HOURS}").fetchall()[0][0]
        marks = store.cursor().execute("SELECT count(*) FROM late_metric_hours").fetchall()[0][0]
        rolled = _from_rollups(store)
        reference = _reference(store)
        daily = _daily(store)
        whole_day = _from_rollups(store, START.replace(hour=0), START.replace(hour=0) + timedelta(days=1))
    finally:
        store.close()

    assert marks == 0
    assert hours >= HOURS
    assert rolled.height == reference.height == 4
    assert_frame_equal(rolled, reference, rel_tol=1e-9, abs_tol=1e-6, check_dtypes=False)
    assert_frame_equal(daily, whole_day, rel_tol=1e-9, abs_tol=1e-6, check_dtypes=False)


def test_a_point_for_an_hour_rolled_up_already_marks_it_and_the_next_turn_recomputes_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "trellis.duckdb")
    service = rollups.RollupService(store)
    try:
        first = [{"asDouble": 1e9, "timeUnixNano": _ns(START + timedelta(minutes=m))} for m in range(0, 60, 2)]
        late = [{"asDouble": 3e9, "timeUnixNano": _ns(START + timedelta(minutes=31))}]
        name = "container.memory.working_set"
        store.submit(otlp_json.decode("metrics", orjson.dumps(metrics_request(first, name=name)))).result(30)
        assert START in _settled(service, START + timedelta(hours=2))
        before = _from_rollups(store)["weighted"].to_list()

        store.submit(otlp_json.decode("metrics", orjson.dumps(metrics_request(late, name=name)))).result(30)
        marked = store.cursor().execute("SELECT DISTINCT hour FROM late_metric_hours").fetchall()
        assert [h for (h,) in marked] == [START]
        assert service.turn(now=START + timedelta(hours=2)) == [START]
        after = _from_rollups(store)["weighted"].to_list()
    finally:
        store.close()

    assert after[0] == pytest.approx(before[0] + 2e9 * 60)  # a minute at 3 GB instead of 1 GB


def test_a_late_point_near_the_end_of_an_hour_leaves_the_next_hour_to_be_rolled_up_when_it_ends(
    tmp_path: Path,
) -> None:
    """Its mark reaches into the next hour, which has not ended: that hour is not rolled up early (it would
    then miss the points still to come), but when it ends, with every point."""
    store = Store(tmp_path / "trellis.duckdb")
    service = rollups.RollupService(store)

    try:
        after = START + timedelta(hours=1) + rollups.LATENESS
        _send(store, list(range(0, 50, 5)))
        assert START in _settled(service, after)
        _send(store, [55])  # late for START; its interval's reach is in the next hour
        assert service.turn(now=after) == [START]
        _send(store, [65, 70])  # 1:05 is within reach of the first hour: it is recomputed too, to no change
        assert service.turn(now=after + timedelta(hours=1)) == [START], "the next hour's points are still coming"
        assert service.turn(now=after + timedelta(hours=1)) == [START + timedelta(hours=1)]
        next_hour = _from_rollups(store, START + timedelta(hours=1), START + timedelta(hours=2))
    finally:
        store.close()

    assert next_hour["samples"].to_list() == [2]


def test_the_collector_keeps_the_rollups_as_points_arrive(make_collector: Callable[..., RunningCollector]) -> None:
    running = make_collector("--rollup-interval-seconds", "0.5")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    points = [{"asDouble": 2e9, "timeUnixNano": _ns(hour + timedelta(minutes=m))} for m in range(0, 61, 5)]
    body = metrics_request(points, name="container.memory.working_set", service_name="checkout")
    assert httpx.post(f"{running.otlp_http}/v1/metrics", json=body, timeout=30).status_code == 200

    sql = f"SELECT workload, weighted / seconds AS bytes FROM {rollups.HOURLY} WHERE hour = $hour"
    deadline, rows = time.monotonic() + 30, []
    with Client(running.api) as client:
        while not rows and time.monotonic() < deadline:
            time.sleep(0.3)
            rows = client.sql(sql, params={"hour": hour.isoformat()}).to_dicts()
    assert rows == [{"workload": "checkout", "bytes": pytest.approx(2e9)}]


def test_rollups_older_than_their_retention_go_and_are_not_rolled_up_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "trellis.duckdb")
    service = rollups.RollupService(store, keep_days=1)
    name = "container.memory.working_set"
    points = [{"asDouble": 1e9, "timeUnixNano": _ns(START + timedelta(hours=h))} for h in (0, 30, 31)]
    try:
        store.submit(otlp_json.decode("metrics", orjson.dumps(metrics_request(points, name=name)))).result(30)
        now = START + timedelta(hours=33)
        _settled(service, now)
        cursor = store.cursor()
        kept = {h for (h,) in cursor.execute("SELECT hour FROM rollup_usage_hours").fetchall()}
        rows = {h for (h,) in cursor.execute("SELECT DISTINCT hour FROM rollup_usage_hourly").fetchall()}
        assert service.turn(now=now) == [], "the hours removed are not rolled up again"
    finally:
        store.close()

    assert kept and min(kept) >= now - timedelta(days=1)
    assert rows and rows <= kept


def _cost(store: Store, period: Period) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Container cost per workload and day for ``period``, as the job computes it (from the rollups where they
    cover the period) and as the Polars reference does from every raw point."""
    prices = {"cpu_core_hour": 0.03, "memory_gib_hour": 0.004}
    keys = ["workload", "day"]
    amounts = ["cpu_core_hours", "memory_gib_hours", "cpu_cost", "memory_cost", "idle_cpu_cost", "idle_memory_cost"]
    sources = Sources(store.cursor())
    job = _containers(sources, period, prices).group_by(keys).agg(pl.col(amounts).sum()).sort(keys)
    reference = _containers_in_polars(sources, period, prices).group_by(keys).agg(pl.col(amounts).sum()).sort(keys)
    return job, reference


def _utilization(store: Store, period: Period) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Utilization for ``period`` as the job computes it (from the rollups' sums and sketches where they
    cover the period) and as the Polars reference does from every raw point, with exact percentiles."""
    sources, config = Sources(store.cursor()), AnalyticsConfig()
    return utilization.run(sources, period, config), utilization.run_in_polars(sources, period, config)


@pytest.mark.parametrize("chunk", [7, 100_000])
def test_each_hours_sketch_counts_its_samples_once_in_bucket_order_however_the_pass_chunks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Each (series, metric, hour) has one rollup row whose sketch lists every bucket of its samples once, in
    bucket order, with the exact count: also when the pass reads the hour in several chunks, whose counts are
    added up bucket by bucket."""
    monkeypatch.setattr(usage_pass, "CHUNK_POINTS", chunk)
    store = _store(tmp_path, _exports(random.Random(1)), rolls_between=2)
    try:
        rows = pl.from_arrow(
            store.cursor()
            .sql(
                f"SELECT hour, workload, metric_name, buckets, counts FROM {rollups.HOURLY} "
                "WHERE hour >= $start AND hour < $end",
                params={"start": START, "end": END},
            )
            .to_arrow_table()
        )
        period = Period(START.replace(tzinfo=None), END.replace(tzinfo=None))
        intervals = read_intervals(Sources(store.cursor()), period, lookahead=LOOKBACK)
    finally:
        store.close()
    assert isinstance(rows, pl.DataFrame)
    assert rows.select(pl.struct("hour", "workload", "metric_name").is_unique().all()).item()
    assert rows.select(
        pl.col("buckets").list.eval(pl.element().diff().drop_nulls().min() > 0).list.first().all()
    ).item()
    resource = pl.when(pl.col("metric_name") == "container.cpu.time").then(pl.lit("cpu")).otherwise(pl.lit("memory"))
    rolled = (
        rows.explode("buckets", "counts")
        .select("workload", "buckets", "counts", resource=resource,
                hour=pl.col("hour").dt.convert_time_zone("UTC").dt.replace_time_zone(None).cast(pl.Datetime("ns")))
        .rename({"buckets": "bucket", "counts": "count"})
        .sort(pl.all())
    )  # fmt: skip
    exact = (
        intervals.filter("sample")
        .group_by("workload", "resource", bucket=sketch.bucket(pl.col("value")),
                  hour=(pl.col("end") - pl.duration(nanoseconds=1)).dt.truncate("1h"))
        .agg(count=pl.len())
        .select(rolled.columns)
        .sort(pl.all())
    )  # fmt: skip
    assert rolled.height > 100
    assert_frame_equal(rolled, exact, check_dtypes=False)


@pytest.mark.parametrize("seed", range(3))
def test_cost_and_utilization_read_the_hours_the_rollups_cover_and_equal_the_raw_points(
    tmp_path: Path, seed: int
) -> None:
    """A period that starts and ends inside hours, with one hour marked by a late point: the jobs take the
    whole hours from the rollups and the rest from the points, and their cost and utilization equal the
    reference's (the percentiles to the sketches' accuracy). Then the raw points of the whole hours go (as
    retention removes them) and the answers stay the same."""
    rng = random.Random(seed)
    store = _store(tmp_path, _exports(rng), rolls_between=2)
    period = Period(
        (START + timedelta(minutes=17)).replace(tzinfo=None), (END - timedelta(minutes=23)).replace(tzinfo=None)
    )
    late = START + timedelta(hours=2, minutes=30, seconds=7)
    body = metrics_request([{"asDouble": 5e9, "timeUnixNano": _ns(late)}], name="container.memory.working_set",
                           kind="gauge", service_name="api")  # fmt: skip
    try:
        store.submit(otlp_json.decode("metrics", orjson.dumps(body))).result(30)
        cover = rollups.covered(Sources(store.cursor()), period)
        job, reference = _cost(store, period)
        used, exact = _utilization(store, period)
        cursor = store.cursor()
        for hour in cover:  # the points only these hours' passes would read
            for table in ("otel_metrics_gauge_rows", "otel_metrics_sum_rows"):
                cursor.execute(
                    f'DELETE FROM {table} WHERE "time" > $first AND "time" < $last',
                    {"first": hour + LOOKBACK, "last": hour + timedelta(hours=1) - LOOKBACK},
                )
        after_retention, _ = _cost(store, period)
        used_after, _ = _utilization(store, period)
    finally:
        store.close()

    assert cover == [START + timedelta(hours=h) for h in (1, 3)]  # hour 2 is marked; hour 4 ends after the period
    assert job.height == reference.height == 2
    assert_frame_equal(job, reference, rel_tol=1e-9, abs_tol=1e-9, check_dtypes=False)
    assert_frame_equal(after_retention.drop("day"), job.drop("day"), rel_tol=1e-9, abs_tol=1e-9)
    assert used.height == exact.height == 4
    assert_same_utilization(used, exact)
    assert_frame_equal(used_after, used, rel_tol=1e-9, abs_tol=1e-9)


def test_a_late_point_just_after_an_hour_marks_the_hour_before_whose_interval_it_cuts(tmp_path: Path) -> None:
    """Points every 5 minutes; a late one at 1:01 cuts the interval from 0:55 to 1:05, which counts its first
    five minutes in hour 0 (at the late point's value now): hour 0 is recomputed too."""
    store = Store(tmp_path / "trellis.duckdb")
    service = rollups.RollupService(store)

    try:
        _send(store, list(range(0, 125, 5)), 1e9)
        _settled(service, START + timedelta(hours=4))
        _send(store, [61], 4e9)
        marked = {h for (h,) in store.cursor().execute("SELECT DISTINCT hour FROM late_metric_hours").fetchall()}
        service.turn(now=START + timedelta(hours=4))
        rolled = _from_rollups(store)
        reference = _reference(store)
    finally:
        store.close()

    assert marked == {START, START + timedelta(hours=1)}
    assert_frame_equal(rolled, reference, rel_tol=1e-9, abs_tol=1e-6, check_dtypes=False)


def test_rollups_made_by_an_older_version_gain_the_new_columns_and_utilization_reads_their_points(
    tmp_path: Path,
) -> None:
    """Hours rolled up before the rollups kept subsets and sketches: on start the columns are added (a
    counter's subset filled in), cost goes on reading those hours, and utilization reads their points."""
    store = _store(tmp_path, _exports(random.Random(7)), rolls_between=1)
    period = Period(START.replace(tzinfo=None), END.replace(tzinfo=None))
    try:
        cursor = store.cursor()
        for table, columns in rollups.ADDED.items():
            for column in columns:
                cursor.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        rollups.ensure_tables(cursor)
        subsets = cursor.execute(f"SELECT DISTINCT counter, subset FROM {rollups.HOURLY} ORDER BY ALL").fetchall()
        sources = Sources(cursor)
        for_cost, for_utilization = rollups.covered(sources, period), rollups.covered(sources, period, sketched=True)
        used, exact = _utilization(store, period)
        job, reference = _cost(store, period)
    finally:
        store.close()

    assert subsets == [(False, 2), (True, 0)]
    assert len(for_cost) == HOURS and for_utilization == []
    assert_same_utilization(used, exact)
    assert_frame_equal(job, reference, rel_tol=1e-9, abs_tol=1e-9, check_dtypes=False)


def test_a_point_just_after_the_hours_rolled_up_marks_the_last_of_them_whose_interval_it_ends(
    tmp_path: Path,
) -> None:
    """A backfill sent a day at a time while the rollups run: the next day's first point ends an interval
    that began in the last hour rolled up. That hour is marked and recomputed, so the rollups equal the
    raw points (the point was not marked: the hour lacked its last interval for good)."""
    store = Store(tmp_path / "trellis.duckdb")
    service = rollups.RollupService(store)

    try:
        _send(store, range(0, 60, 4))  # the hour's points, the last at 0:56
        assert max(_settled(service, START + timedelta(days=1))) == START
        _send(store, range(60, 120, 4))  # the next hour's, the first at 1:00 ending the interval from 0:56
        marked = {h for (h,) in store.cursor().execute("SELECT DISTINCT hour FROM late_metric_hours").fetchall()}
        service.turn(now=START + timedelta(days=1))
        rolled = _from_rollups(store, START, START + timedelta(hours=1))
        hour = Period(START.replace(tzinfo=None), (START + timedelta(hours=1)).replace(tzinfo=None))
        reference = read_intervals(Sources(store.cursor()), hour, lookahead=LOOKBACK)
    finally:
        store.close()

    assert marked == {START}
    assert rolled["seconds"].to_list() == [pytest.approx(reference["seconds"].sum())] == [pytest.approx(3600.0)]


def test_an_hour_waits_for_the_points_sent_on_time_that_end_its_last_interval(tmp_path: Path) -> None:
    """A series scraped every 5 minutes: the point 5 minutes after the hour, sent on time, ends an interval
    that began inside it. The hour is rolled up once such points have come (LATENESS), not before."""
    store = Store(tmp_path / "trellis.duckdb")
    service = rollups.RollupService(store)
    points = [{"asDouble": 1e9, "timeUnixNano": _ns(START + timedelta(minutes=m))} for m in range(0, 60, 5)]
    try:
        body = metrics_request(points, name="container.memory.working_set")
        store.submit(otlp_json.decode("metrics", orjson.dumps(body))).result(30)
        early = service.turn(now=START + timedelta(hours=1, minutes=5))
        on_time = service.turn(now=START + timedelta(hours=1) + rollups.LATENESS)
    finally:
        store.close()

    assert START not in early
    assert START in on_time
    assert rollups.LATENESS > LOOKBACK


def test_a_backfills_hour_is_rolled_up_once_its_points_have_moved_past_it(tmp_path: Path) -> None:
    """Days-old points sent in time order, as a backfill does: every hour has ended long ago, but an hour
    is rolled up once the points have moved LATENESS past it, not while its own points are still coming
    (which rolled it up again at every turn); once the points stop coming, the rest is rolled up."""
    store = Store(tmp_path / "trellis.duckdb")
    service = rollups.RollupService(store)
    now, second, third = NOW + timedelta(days=3), START + timedelta(hours=1), START + timedelta(hours=2)
    try:
        _send(store, range(0, 60, 5))
        first_turn = service.turn(now=now)  # the first hour's points: more may come
        _send(store, range(60, 90, 5))  # the second hour's first half
        while_coming = service.turn(now=now)
        _send(store, range(90, 140, 5))  # its second half, and the third hour's first quarter
        moved_on = service.turn(now=now)
        stopped = service.turn(now=now)
    finally:
        store.close()

    assert START not in first_turn, "the points have not moved past the first hour"
    assert START in while_coming and second not in while_coming, "the second hour waits while its points come"
    assert moved_on == [second], "the points moved 15 minutes past the second hour: it is rolled up once"
    assert stopped == [third], "no points came since the turn before: the hours that ended are rolled up"


def test_a_point_committed_while_an_hour_is_rolled_up_is_in_its_rollup_or_marks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer commits a late point (and its mark) after the rollups' pass has read the hour's points
    and before the rollups are written: the mark stays, and the next turn takes the point in. (The mark
    used to be removed with the others, and the hour lacked the point for good.)"""
    store = Store(tmp_path / "trellis.duckdb")
    service = rollups.RollupService(store)

    real_run = rollups.Pass.run
    during: list[int] = []

    def run_then_commit(self: rollups.Pass) -> bool:
        found = real_run(self)
        if not during:
            during.append(1)
            _send(store, [31], 4e9)  # committed by the writer now, between the pass and the rollups' writes
        return found

    try:
        _send(store, list(range(0, 60, 2)), 1e9)
        _settled(service, START + timedelta(hours=2))
        _send(store, [29], 1e9)  # a late point: the next turn recomputes the hour
        monkeypatch.setattr(rollups.Pass, "run", run_then_commit)
        service.turn(now=START + timedelta(hours=2))
        service.turn(now=START + timedelta(hours=2))
        rolled = _from_rollups(store)
        reference = _reference(store)
    finally:
        store.close()

    assert during
    assert_frame_equal(rolled, reference, rel_tol=1e-9, abs_tol=1e-6, check_dtypes=False)


def test_gauges_sampled_hours_apart_give_the_same_cost_from_the_rollups_as_from_their_points(tmp_path: Path) -> None:
    """A gauge sent every six hours: each point holds its value five minutes back, whether the pass that reads
    it sees the point six hours before (a long period) or not (an hour rolled up). Before, the hour rolled up
    counted nothing for it, and the figures changed as the rollups caught up."""
    store = Store(tmp_path / "trellis.duckdb")
    first = START + timedelta(minutes=17)
    for name in ("container.memory.working_set", "k8s.container.memory.request"):
        points = [{"asDouble": 1e9, "timeUnixNano": _ns(first + timedelta(hours=6 * k))} for k in range(8)]
        body = metrics_request(points, name=name, kind="gauge", service_name="api")
        store.submit(otlp_json.decode("metrics", orjson.dumps(body))).result(30)
    period = Period(START.replace(tzinfo=None), (START + timedelta(days=2, hours=6)).replace(tzinfo=None))
    try:
        from_points, reference = _cost(store, period)
        service = rollups.RollupService(store)
        while service.turn(now=START + timedelta(days=3)):
            pass
        from_rollups, _ = _cost(store, period)
    finally:
        store.close()

    assert from_points["memory_gib_hours"].sum() > 0
    assert_frame_equal(from_rollups, from_points, rel_tol=1e-9, abs_tol=1e-12)
    assert_frame_equal(from_points, reference, rel_tol=1e-9, abs_tol=1e-12, check_dtypes=False)
