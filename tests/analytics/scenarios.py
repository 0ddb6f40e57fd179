"""Small hand-made histories the analytics tests share: a fortnight of deployments and incidents, one
hour of a CPU counter with resets, and two containers against their requests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb

from tests.analytics.conftest import deployment, incident, insert
from trellis.analytics.sources import Period

D = datetime

TWO_WEEKS = Period(D(2026, 1, 5), D(2026, 1, 19))
"""Monday 5 January to Monday 19 January 2026: two whole weeks."""


SCENARIO = [
    deployment("d1", D(2026, 1, 5, 10), first_commit_at=D(2026, 1, 4, 10)),
    deployment("d2", D(2026, 1, 6, 10), status="failed"),
    deployment("d3", D(2026, 1, 6, 12), first_commit_at=D(2026, 1, 6, 6)),
    deployment("d4", D(2026, 1, 8, 9), first_commit_at=D(2026, 1, 7, 9)),
    deployment("d5", D(2026, 1, 8, 12), first_commit_at=D(2026, 1, 8, 11)),
    deployment("d6", D(2026, 1, 13, 9), first_commit_at=D(2026, 1, 12, 21)),
    deployment("s1", D(2026, 1, 7, 9), environment="staging", first_commit_at=D(2026, 1, 1)),
    deployment("old", D(2025, 12, 1), first_commit_at=D(2025, 11, 1)),
]
SCENARIO_INCIDENTS = [
    incident("i1", D(2026, 1, 8, 10), D(2026, 1, 8, 13)),
    incident("i2", D(2026, 1, 14), None, caused_by="d1"),
]


MINUTE = timedelta(minutes=1)
HOUR = Period(D(2026, 1, 5, 10), D(2026, 1, 5, 11))
CUMULATIVE, DELTA = 2, 1

# (time, cumulative value, start_time): 0.5 cores throughout. At 10:03 the process restarted at 10:02:30 (a new
# start time); at 10:05 the value drops below the previous one with the same start time (a reset the start time
# does not show), so the increase is the value itself over the minute since the previous point.
S0, S1 = D(2026, 1, 5, 9), D(2026, 1, 5, 10, 2, 30)
CPU_POINTS = [
    (D(2026, 1, 5, 10, 0), 100.0, S0),  # ends at the period's start: describes time before it
    (D(2026, 1, 5, 10, 1), 130.0, S0),
    (D(2026, 1, 5, 10, 2), 160.0, S0),
    (D(2026, 1, 5, 10, 3), 15.0, S1),
    (D(2026, 1, 5, 10, 4), 45.0, S1),
    (D(2026, 1, 5, 10, 5), 30.0, S1),
]


def point(metric: str, series: int, time: datetime, value: float, workload: str, **extra: Any) -> dict[str, Any]:
    return {
        "metric_name": metric,
        "series_id": series,
        "time": time,
        "value": value,
        "service_name": workload,
        "service_namespace": "shop",
        "deployment_environment_name": "production",
        "k8s_namespace_name": "shop",
        "k8s_pod_name": f"{workload}-7d9f-x1",
        "k8s_container_name": "app",
        **extra,
    }


def cumulative(workload: str, series: int) -> list[dict[str, Any]]:
    return [
        point("container.cpu.time", series, t, v, workload, start_time=s, aggregation_temporality=CUMULATIVE,
              is_monotonic=True)
        for t, v, s in CPU_POINTS
    ]  # fmt: skip


def as_delta(workload: str, series: int) -> list[dict[str, Any]]:
    """The same counter as an SDK with delta temporality sends it: each point the increase since the last."""
    out, previous = [], None
    for t, v, s in CPU_POINTS:
        if previous is None or s != previous[2] or v < previous[1]:
            start, increase = (s if previous is None or s != previous[2] else previous[0]), v
        else:
            start, increase = previous[0], v - previous[1]
        out.append(
            point("container.cpu.time", series, t, increase, workload, start_time=start,
                  aggregation_temporality=DELTA, is_monotonic=True)
        )  # fmt: skip
        previous = (t, v, s)
    return out


GIB = 1 << 30
MINUTES = [HOUR.start + timedelta(minutes=m) for m in range(61)]
"""10:00 to 11:00 each minute: the 10:00 point describes time before the hour, the 60 others one minute each."""


def steady(workload: str, series: int, metric: str, value: float, **extra: Any) -> list[dict[str, Any]]:
    return [point(metric, series, t, value, workload, **extra) for t in MINUTES]


def containers(con: duckdb.DuckDBPyConnection) -> None:
    """'over' requests more than it uses; 'under' uses more than it requests."""
    insert(
        con,
        "otel_metrics_gauge",
        steady("over", 1, "container.cpu.usage", 0.25)
        + steady("over", 2, "k8s.container.cpu.request", 1.0)
        + steady("over", 3, "container.memory.working_set", 0.25 * GIB)
        + steady("over", 4, "k8s.container.memory.request", 1.0 * GIB)
        + steady("under", 5, "container.cpu.usage", 1.0)
        + steady("under", 6, "k8s.container.cpu.request.current", 0.5)
        + steady("under", 7, "container.memory.working_set", 1.0 * GIB)
        + steady("under", 8, "k8s.container.memory.request", 0.5 * GIB),
    )
