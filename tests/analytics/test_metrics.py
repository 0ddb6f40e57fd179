"""trellis/analytics/metrics.py: counters become rates (resets included), delta equals cumulative, gauges hold."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
from polars.testing import assert_frame_equal

from tests.analytics.conftest import insert
from tests.analytics.scenarios import HOUR, S1, as_delta, cumulative, point
from trellis.analytics.metrics import hourly, read_intervals
from trellis.analytics.sources import Period, Sources

D = datetime


def intervals(con: duckdb.DuckDBPyConnection, period: Period = HOUR) -> pl.DataFrame:
    return read_intervals(Sources(con), period).sort("workload", "end")


def test_a_counter_reset_is_a_new_start_time_or_a_drop(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "otel_metrics_sum", cumulative("api", 1))
    got = intervals(con).select("start", "end", "value", "seconds", "sample")
    expected = pl.DataFrame(
        [
            (D(2026, 1, 5, 10, 0), D(2026, 1, 5, 10, 1), 0.5, 60.0, True),
            (D(2026, 1, 5, 10, 1), D(2026, 1, 5, 10, 2), 0.5, 60.0, True),
            (S1, D(2026, 1, 5, 10, 3), 0.5, 30.0, True),  # 15 s of CPU in the 30 s since the restart
            (D(2026, 1, 5, 10, 3), D(2026, 1, 5, 10, 4), 0.5, 60.0, True),
            (D(2026, 1, 5, 10, 4), D(2026, 1, 5, 10, 5), 0.5, 60.0, True),  # dropped to 30: 30 s in a minute
        ],
        schema={"start": pl.Datetime("ns"), "end": pl.Datetime("ns"), "value": pl.Float64, "seconds": pl.Float64,
                "sample": pl.Boolean},
        orient="row",
    )  # fmt: skip
    assert_frame_equal(got, expected)


def test_delta_and_cumulative_give_the_same_rates(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "otel_metrics_sum", cumulative("cumulative", 1) + as_delta("delta", 2))
    frame = intervals(con).drop("pod")
    by_kind = {name: frame.filter(pl.col("workload") == name).drop("workload") for name in ("cumulative", "delta")}
    assert by_kind["cumulative"].height == 5
    assert_frame_equal(by_kind["cumulative"], by_kind["delta"])


def test_gauges_hold_their_value_since_the_previous_point(con: duckdb.DuckDBPyConnection) -> None:
    times = [D(2026, 1, 5, 9, 58), D(2026, 1, 5, 10, 0), D(2026, 1, 5, 10, 30), D(2026, 1, 5, 11, 0)]
    insert(
        con,
        "otel_metrics_gauge",
        [
            point("container.memory.working_set", 7, t, v, "api")
            for t, v in zip(times, [1.0, 2.0, 3.0, 4.0], strict=True)
        ]
        + [point("k8s.container.cpu.request", 8, D(2026, 1, 5, 10, 20), 0.25, "api")],
    )
    frame = intervals(con)
    memory = frame.filter(pl.col("resource") == "memory").select("start", "end", "value", "sample")
    assert memory.rows() == [
        (D(2026, 1, 5, 10, 25), D(2026, 1, 5, 10, 30), 3.0, True),  # at most five minutes back
        (D(2026, 1, 5, 10, 55), D(2026, 1, 5, 11, 0), 4.0, True),  # the point at the very end counts
    ]
    request = frame.filter(pl.col("kind") == "request").select("start", "end", "value", "seconds").row(0)
    assert request == (D(2026, 1, 5, 10, 15), D(2026, 1, 5, 10, 20), 0.25, 300.0)  # a first point: five minutes


def test_the_counter_wins_over_the_gauge_and_containers_over_their_pod(con: duckdb.DuckDBPyConnection) -> None:
    pod = {"k8s_container_name": None}
    insert(con, "otel_metrics_sum", cumulative("api", 1))
    insert(
        con,
        "otel_metrics_gauge",
        [point("container.cpu.usage", 2, D(2026, 1, 5, 10, m), 9.0, "api") for m in (1, 2)]
        + [point("k8s.pod.cpu.usage", 3, D(2026, 1, 5, 10, m), 9.0, "api", **pod) for m in (1, 2)]
        + [point("k8s.pod.memory.working_set", 4, D(2026, 1, 5, 10, m), 5.0, "api", **pod) for m in (1, 2)],
    )
    frame = intervals(con)
    assert frame.filter(pl.col("resource") == "cpu")["value"].unique().to_list() == [0.5]
    memory = frame.filter(pl.col("resource") == "memory")
    assert memory["container"].to_list() == [None, None]  # no container reports memory: the pod's own counts


def test_kubernetes_workload_names_come_from_the_resource_when_there_is_no_service(
    con: duckdb.DuckDBPyConnection,
) -> None:
    at = datetime(2026, 1, 5, 10, 10)
    pod = {"metric_name": "container.cpu.usage", "time": at, "k8s_namespace_name": "shop"}
    insert(
        con,
        "otel_metrics_gauge",
        [
            {
                **pod,
                "series_id": 1,
                "value": 0.2,
                "k8s_pod_name": "web-5b7c-x",
                "k8s_container_name": "nginx",
                "resource_attributes": {"k8s.deployment.name": "web"},
            },
            {
                **pod,
                "series_id": 2,
                "value": 0.1,
                "k8s_pod_name": "lonely-pod",
                "k8s_container_name": "c",
                "resource_attributes": {},
            },
        ],
    )
    frame = intervals(con)
    assert frame.select("team", "workload", "container").rows() == [
        ("shop", "lonely-pod", "c"),
        ("shop", "web", "nginx"),
    ]


def test_no_metric_tables_or_no_points_give_no_intervals(con: duckdb.DuckDBPyConnection) -> None:
    assert intervals(con).is_empty()
    assert read_intervals(Sources(duckdb.connect()), HOUR).is_empty()


def test_an_interval_that_crosses_an_hour_counts_its_part_in_each(con: duckdb.DuckDBPyConnection) -> None:
    """A gauge held from 10:57 to 11:02 is three minutes of hour 10 and two of hour 11 (not five of hour 11,
    the hour it ends in), so that hours computed over a long period equal the hourly rollups. Hour 10 also
    holds the two minutes from 10:55 to 10:57 and the first point's five."""
    times = [D(2026, 1, 5, 10, 55), D(2026, 1, 5, 10, 57), D(2026, 1, 5, 11, 2)]
    insert(con, "otel_metrics_gauge", [point("container.memory.working_set", 7, t, 2.0, "api") for t in times])
    frame = hourly(read_intervals(Sources(con), Period(D(2026, 1, 5, 10, 50), D(2026, 1, 5, 11, 10))))
    running = frame.sort("hour").select("hour", (pl.col("running_hours") * 60).round(9))
    assert running.rows() == [(D(2026, 1, 5, 10), 10.0), (D(2026, 1, 5, 11), 2.0)]


def test_a_period_counts_its_part_of_an_interval_that_ends_after_it(con: duckdb.DuckDBPyConnection) -> None:
    """The point at 11:02 holds its value from 10:57: three of those minutes are in the hour up to 11:00."""
    times = [D(2026, 1, 5, 10, 55), D(2026, 1, 5, 10, 57), D(2026, 1, 5, 11, 2)]
    insert(con, "otel_metrics_gauge", [point("container.memory.working_set", 7, t, 2.0, "api") for t in times])
    memory = intervals(con).select("start", "end", "seconds", "sample")
    assert memory.rows() == [
        (D(2026, 1, 5, 10, 50), D(2026, 1, 5, 10, 55), 300.0, True),  # a first point: five minutes
        (D(2026, 1, 5, 10, 55), D(2026, 1, 5, 10, 57), 120.0, True),
        (D(2026, 1, 5, 10, 57), D(2026, 1, 5, 11, 0), 180.0, False),  # the period's part; not one of its samples
    ]
