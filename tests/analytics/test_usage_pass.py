"""trellis/analytics/usage_pass.py: the one pass over the points does not depend on the order they were stored in, and
names every series, also those that start in a later chunk."""

from __future__ import annotations

import random
from datetime import UTC, timedelta
from datetime import datetime as D

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.analytics.conftest import insert
from tests.analytics.reference import assert_same_as_reference
from tests.analytics.scenarios import CUMULATIVE, DELTA, HOUR, cumulative, point
from trellis.analytics import cost, rollups, usage_pass, utilization
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.metrics import read_intervals
from trellis.analytics.sources import Period, Sources
from trellis.catalog.tables import migrate_catalog
from trellis.collector.schema import migrate


def test_points_stored_out_of_time_order_give_the_same_tables(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = cumulative("api", 1)[::-1]
    gauge = [point("container.memory.working_set", 2, D(2026, 1, 5, 9, 55) + timedelta(minutes=m), m % 7 + 1.0,
                   "api") for m in range(70)]  # fmt: skip
    random.Random(4).shuffle(gauge)
    insert(con, "otel_metrics_sum", rows)
    insert(con, "otel_metrics_gauge", gauge)
    monkeypatch.setattr(usage_pass, "CHUNK_POINTS", 20)
    assert_same_as_reference(con, HOUR)


def _counter_point(series: int, time: D, value: float, workload: str) -> dict[str, object]:
    return point("container.cpu.time", series, time, value, workload, start_time=D(2026, 1, 5), is_monotonic=True,
                 aggregation_temporality=CUMULATIVE)  # fmt: skip


@pytest.mark.parametrize("chunk", [5, 1000])
def test_the_points_around_the_period_count_through_the_last_before_it_and_the_first_after_it(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Of the lookback and the lookahead the pass reads one point per series, the last before the period and
    the first after it: the tables equal the reference's, which reads every point, also where those points are
    stored twice with different values (the lowest counts) and for a counter with no point inside the hour."""
    minutes = [-9, -6, -5, -5, 5, 20, 40, 59, 64, 64, 66, 69]
    counter = [_counter_point(3, D(2026, 1, 5, 10) + timedelta(minutes=m), 10.0 * i + (3.0 if i == 3 else 0.0), "api")
               for i, m in enumerate(minutes)]  # fmt: skip
    across = [
        _counter_point(5, D(2026, 1, 5, 9, 58), 100.0, "batch"),
        _counter_point(5, D(2026, 1, 5, 11, 3), 160.0, "batch"),
    ]
    at = [D(2026, 1, 5, 10) + timedelta(minutes=m) for m in range(-10, 71)]
    gauge = [point("container.memory.working_set", 4, t, 1e9 + i * 1e6 + r, "api") for i, t in enumerate(at)
             for r in ((0.0, 5e6) if i in (9, 11, 69, 71) else (0.0,)) if not 20 < i < 59]  # fmt: skip
    insert(con, "otel_metrics_sum", counter + across)
    insert(con, "otel_metrics_gauge", gauge)
    monkeypatch.setattr(usage_pass, "CHUNK_POINTS", chunk)
    assert_same_as_reference(con, HOUR)


def test_a_counter_without_points_inside_the_period_still_counts_its_interval_across_it(
    con: duckdb.DuckDBPyConnection,
) -> None:
    insert(con, "otel_metrics_sum", [_counter_point(5, D(2026, 1, 5, 9, 58), 100.0, "batch"),
                                     _counter_point(5, D(2026, 1, 5, 11, 3), 160.0, "batch")])  # fmt: skip
    assert_same_as_reference(con, HOUR)
    used = utilization.run(Sources(con), HOUR, AnalyticsConfig())
    assert used.height == 1


def test_a_delta_point_after_the_period_whose_interval_starts_inside_it_counts_its_part(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A delta point's interval starts at its own start time, not at the point before it: the second point
    after the period, which began at 10:50, has ten of its fifteen minutes inside the hour."""
    rows = [(D(2026, 1, 5, 10, 30), D(2026, 1, 5, 10, 29), 60.0), (D(2026, 1, 5, 11, 2), D(2026, 1, 5, 10, 30), 1920.0),
            (D(2026, 1, 5, 11, 5), D(2026, 1, 5, 10, 50), 900.0)]  # fmt: skip
    insert(con, "otel_metrics_sum", [point("container.cpu.time", 7, t, v, "api", start_time=start, is_monotonic=True,
                                           aggregation_temporality=DELTA) for t, start, v in rows])  # fmt: skip
    assert_same_as_reference(con, HOUR)


def test_without_a_lookahead_a_point_at_the_periods_end_is_its_last(con: duckdb.DuckDBPyConnection) -> None:
    """``lookahead`` 0 reads up to the period's end, not including it, as the reference does."""
    at = (D(2026, 1, 5, 10, 30), D(2026, 1, 5, 11))
    insert(con, "otel_metrics_gauge", [point("container.memory.working_set", 1, t, 5.0, "api") for t in at])
    reference = read_intervals(Sources(con), HOUR, lookahead=timedelta(0))
    built = usage_pass.Pass(Sources(con), HOUR, with_sketches=False, lookahead=timedelta(0))
    try:
        assert built.run()
        found = con.execute(f"SELECT sum(seconds), sum(samples) FROM {built.raw}").fetchall()[0]
    finally:
        built.drop()
    assert found == (reference["seconds"].sum(), reference["sample"].sum()) == (300.0, 1)


def test_a_period_whose_only_points_are_before_it_gives_empty_tables(con: duckdb.DuckDBPyConnection) -> None:
    """A workload that stopped just before the period: its last point is read as the start of an interval
    that never comes, and utilization and cost are empty, as the reference's are."""
    insert(con, "otel_metrics_gauge", [point("container.memory.working_set", 1, D(2026, 1, 5, 9, 55), 5.0, "api")])
    config = AnalyticsConfig()
    used, exact = utilization.run(Sources(con), HOUR, config), utilization.run_in_polars(Sources(con), HOUR, config)
    assert used.is_empty() and exact.is_empty()
    assert used.schema == exact.schema
    assert cost.run(Sources(con), HOUR, config).is_empty()


def test_a_nan_or_infinite_point_counts_as_no_value(con: duckdb.DuckDBPyConnection) -> None:
    """OTLP carries NaN (a Prometheus staleness marker comes through as one): such a point, or an infinite
    one, counts as not recorded. Utilization and cost equal those of the same points without it, the
    reference's too, and the rollups roll its hour up."""
    at = [D(2026, 1, 5, 10) + timedelta(minutes=m) for m in range(0, 60, 5)]
    odd = {at[3]: float("nan"), at[7]: float("inf")}
    rows = [point("container.memory.working_set", 1, t, odd.get(t, 5e8), "api") for t in at]
    insert(con, "otel_metrics_gauge", rows)
    without = duckdb.connect()
    migrate(without)
    migrate_catalog(without)
    insert(without, "otel_metrics_gauge", [row for row in rows if row["time"] not in odd])
    config = AnalyticsConfig()
    expected = utilization.run(Sources(without), HOUR, config)
    assert expected.height == 1
    for run in (utilization.run, utilization.run_in_polars):
        assert_frame_equal(run(Sources(con), HOUR, config), expected)
    assert_frame_equal(cost.run(Sources(con), HOUR, config), cost.run(Sources(without), HOUR, config))
    rollups.ensure_tables(con)
    assert rollups.roll_hour(con, D(2026, 1, 5, 10, tzinfo=UTC)) == 1


def test_a_series_that_starts_in_a_later_chunk_is_named(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    early = [point("container.memory.working_set", s, D(2026, 1, 5, 10, m), 1.0, f"w{s}") for s in range(5)
             for m in range(0, 60, 5)]  # fmt: skip
    late = [point("container.memory.working_set", 9, D(2026, 1, 5, 10, m), 2.0, "late") for m in (50, 55)]
    insert(con, "otel_metrics_gauge", early + late)
    monkeypatch.setattr(usage_pass, "CHUNK_POINTS", 12)
    built = usage_pass.Pass(Sources(con), HOUR, with_sketches=False)
    try:
        assert built.run()
        named = {row["series_id"]: row["workload"] for ident in built.idents for row in ident.iter_rows(named=True)}
        assert len(built.idents) > 1  # the late series was read in a chunk of its own
    finally:
        built.drop()
    assert named == {**{s: f"w{s}" for s in range(5)}, 9: "late"}
    assert_same_as_reference(con, HOUR)


def test_no_points_in_the_period_make_no_pass(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "otel_metrics_gauge", [point("container.memory.working_set", 1, D(2026, 1, 4), 1.0, "api")])
    built = usage_pass.Pass(Sources(con), Period(D(2026, 1, 5), D(2026, 1, 6)), with_sketches=True)
    try:
        assert not built.run()
    finally:
        built.drop()
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall() == [(0,)]


def test_points_stored_twice_by_a_retried_export_count_once(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exporter retries an export the collector had stored: the same series and time twice. Utilization
    and cost, in the chunked pass and in the reference, come out as with every point once."""
    counter = cumulative("api", 1)
    gauge = [point("container.memory.working_set", 2, D(2026, 1, 5, 10) + timedelta(minutes=m), m % 7 + 1.0, "api")
             for m in range(61)]  # fmt: skip
    once = duckdb.connect()
    migrate(once)
    migrate_catalog(once)
    for table, rows in [("otel_metrics_sum", counter), ("otel_metrics_gauge", gauge)]:
        insert(once, table, rows)
        insert(con, table, rows)
    insert(con, "otel_metrics_sum", counter[1:4])
    insert(con, "otel_metrics_gauge", gauge[10:40])
    monkeypatch.setattr(usage_pass, "CHUNK_POINTS", 25)

    config = AnalyticsConfig()
    assert_frame_equal(utilization.run(Sources(con), HOUR, config), utilization.run(Sources(once), HOUR, config))
    assert_frame_equal(cost.run(Sources(con), HOUR, config), cost.run(Sources(once), HOUR, config))
    assert_same_as_reference(con, HOUR)


def test_series_named_already_are_not_named_again_from_their_points(con: duckdb.DuckDBPyConnection) -> None:
    """The rollups name the series of an hour from the hour before (``known``): the pass takes those names
    as given and reads the names of the other series from their points."""
    insert(con, "otel_metrics_gauge", [point("container.memory.working_set", s, D(2026, 1, 5, 10, m), 1.0, f"w{s}")
                                       for s in (1, 2) for m in range(0, 60, 5)])  # fmt: skip
    first = usage_pass.Pass(Sources(con), HOUR, with_sketches=False)
    try:
        first.run()
        known = pl.concat(first.idents).filter(pl.col("series_id") == 1).with_columns(workload=pl.lit("as given"))
    finally:
        first.drop()
    again = usage_pass.Pass(Sources(con), HOUR, with_sketches=False, known=known)
    try:
        assert again.run()
        named = {row["series_id"]: row["workload"] for ident in again.idents for row in ident.iter_rows(named=True)}
    finally:
        again.drop()
    assert named == {1: "as given", 2: "w2"}
