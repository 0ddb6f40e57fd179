"""trellis/analytics/utilization.py: usage against requests, percentiles, idle share and the recommended request."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.analytics.conftest import insert
from tests.analytics.scenarios import GIB, HOUR, as_delta, containers, cumulative, point
from trellis.analytics import utilization
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.sources import Period, Sources


def run(con: duckdb.DuckDBPyConnection, period: Period = HOUR) -> pl.DataFrame:
    return utilization.run(Sources(con), period, AnalyticsConfig())


def test_usage_against_requests_worked_out_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    containers(con)
    got = run(con).select(
        "workload", "resource", "unit", "samples", "usage_avg", "usage_p95", "request_avg", "usage_to_request",
        "idle_share", "usage_hours", "request_hours", "recommended_request",
    )  # fmt: skip
    expected = pl.DataFrame(
        [
            ("over", "cpu", "cores", 60, 0.25, 0.25, 1.0, 0.25, 0.75, 0.25, 1.0, 0.25 * 1.15),
            (
                "over",
                "memory",
                "bytes",
                60,
                0.25 * GIB,
                0.25 * GIB,
                GIB,
                0.25,
                0.75,
                0.25 * GIB,
                GIB,
                0.25 * GIB * 1.15,
            ),
            ("under", "cpu", "cores", 60, 1.0, 1.0, 0.5, 2.0, 0.0, 1.0, 0.5, 1.15),
            ("under", "memory", "bytes", 60, GIB, GIB, 0.5 * GIB, 2.0, 0.0, GIB, 0.5 * GIB, 1.15 * GIB),
        ],
        schema={c: utilization.SCHEMA[c] for c in got.columns},
        orient="row",
    )
    sketched = ["usage_p95", "recommended_request"]
    assert_frame_equal(got.drop(sketched), expected.drop(sketched))
    for column in sketched:
        assert got[column].to_list() == pytest.approx(expected[column].to_list(), rel=utilization.PERCENTILE_ACCURACY)


def test_percentiles_come_from_the_samples(con: duckdb.DuckDBPyConnection) -> None:
    """Twenty one-minute samples 1..20 cores: p50 10.5 and p95 19.05 (linear, to the sketches' accuracy),
    average 10.5, max 20 (exact)."""
    times = [HOUR.start + timedelta(minutes=m) for m in range(21)]
    insert(
        con,
        "otel_metrics_gauge",
        [point("container.cpu.usage", 1, t, float(n), "api") for n, t in enumerate(times)],
    )
    row = run(con).row(0, named=True)
    assert row["samples"] == 20
    accuracy = utilization.PERCENTILE_ACCURACY
    assert row["usage_p50"] == pytest.approx(10.5, rel=accuracy)
    assert row["usage_p95"] == pytest.approx(19.05, rel=accuracy)
    assert (row["usage_max"], row["usage_avg"]) == (20.0, pytest.approx(10.5))
    assert row["recommended_request"] == pytest.approx(19.05 * 1.15, rel=accuracy)
    assert row["request_avg"] is None and row["idle_share"] is None


def test_delta_and_cumulative_counters_give_the_same_utilization(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "otel_metrics_sum", cumulative("cumulative", 1) + as_delta("delta", 2))
    frame = run(con)
    rows = {r["workload"]: r for r in frame.drop("workload").with_columns(frame["workload"]).to_dicts()}
    assert rows["cumulative"]["usage_avg"] == 0.5 and rows["cumulative"]["samples"] == 5
    assert {k: v for k, v in rows["cumulative"].items() if k != "workload"} == {
        k: v for k, v in rows["delta"].items() if k != "workload"
    }


def test_no_data_gives_the_documented_empty_frame(con: duckdb.DuckDBPyConnection) -> None:
    assert_frame_equal(run(con), pl.DataFrame(schema=utilization.SCHEMA))
    assert_frame_equal(run(duckdb.connect()), pl.DataFrame(schema=utilization.SCHEMA))
    containers(con)
    assert run(con, Period(datetime(2025, 1, 1), datetime(2025, 1, 2))).is_empty()


def test_a_point_stored_with_different_values_counts_once_with_the_lowest(con: duckdb.DuckDBPyConnection) -> None:
    """Two or three points of one series at the same time with different values: one sample, the lowest
    (``metrics.distinct_points``), whichever came first."""
    times = [HOUR.start + timedelta(minutes=m) for m in range(21)]
    points = [point("container.cpu.usage", 1, t, float(n), "api") for n, t in enumerate(times)]
    insert(con, "otel_metrics_gauge", points)
    insert(
        con, "otel_metrics_gauge", [point("container.cpu.usage", 1, t, n + 100.0, "api") for n, t in enumerate(times)]
    )
    insert(
        con,
        "otel_metrics_gauge",
        [point("container.cpu.usage", 1, t, n - 0.5, "api") for n, t in enumerate(times)][14:],
    )
    row = run(con).row(0, named=True)
    assert row["samples"] == 20
    assert row["usage_max"] == 19.5


def test_a_gauge_point_stored_twice_is_one_sample(con: duckdb.DuckDBPyConnection) -> None:
    """A retried export stores its points again (same series, time and value): the percentiles, the
    maximum and the count of samples are those of each point once."""
    times = [HOUR.start + timedelta(minutes=m) for m in range(21)]
    points = [point("container.cpu.usage", 1, t, float(n), "api") for n, t in enumerate(times)]
    insert(con, "otel_metrics_gauge", points)
    insert(con, "otel_metrics_gauge", points[14:] * 2)  # the highest six, twice more
    row = run(con).row(0, named=True)
    assert row["samples"] == 20
    assert row["usage_p50"] == pytest.approx(10.5, rel=utilization.PERCENTILE_ACCURACY)
    assert row["usage_p95"] == pytest.approx(19.05, rel=utilization.PERCENTILE_ACCURACY)
