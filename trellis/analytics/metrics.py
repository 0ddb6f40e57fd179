"""Container CPU and memory as intervals: counters turned into rates, gauges held between samples.

Every usage or request value becomes an interval ``(start, end]`` with a value (cores or bytes), for one
*subject*: a container of a pod (or a whole pod, from the ``k8s.pod.*`` metrics). Utilization and cost
both start here. docs/analytics.md describes the rules; in short:

- A cumulative counter (``container.cpu.time``, seconds) gives, between two points of one series, the
  increase over the time between them. A new ``start_time`` or a value lower than the previous one is a
  reset: the counter restarted from zero at ``start_time`` (or, when that is unknown, after the previous
  point), so the increase is the new value.
- A delta point is the increase over ``(start_time, time]`` (or since the previous point when it has no
  start time). The same data sent as delta and as cumulative therefore gives the same intervals.
- A gauge (``container.cpu.usage`` cores, ``container.memory.working_set`` bytes, the requests) holds
  its value since the previous point of its series, at most ``MAX_GAP`` back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import polars as pl

from trellis.analytics.frames import TS, any_equal, shaped
from trellis.analytics.frames import seconds as to_seconds
from trellis.analytics.sources import Frame, Period, Sources

LOOKBACK = timedelta(minutes=10)
"""Points this long before the period are read too, so the first interval inside it has a start."""
MAX_GAP = timedelta(minutes=5)
"""A gauge value holds at most this long before the point that carries it."""
HOUR = timedelta(hours=1)
DELTA = 1
"""OTLP's AGGREGATION_TEMPORALITY_DELTA: a counter point that holds the increase since its start time."""

CPU_TIME = ("container.cpu.time", "k8s.pod.cpu.time")
CPU_USAGE = ("container.cpu.usage", "k8s.pod.cpu.usage")
MEMORY_USAGE = ("container.memory.working_set", "k8s.pod.memory.working_set")
CPU_REQUEST = (
    "k8s.container.cpu.request.current",
    "k8s.container.cpu.request",
    "k8s.container.cpu_request",
    "k8s.pod.cpu.request.current",
    "k8s.pod.cpu.request",
)
MEMORY_REQUEST = (
    "k8s.container.memory.request.current",
    "k8s.container.memory.request",
    "k8s.container.memory_request",
    "k8s.pod.memory.request.current",
    "k8s.pod.memory.request",
)

SUBJECT = ["team", "workload", "environment", "k8s_namespace", "pod", "container"]
"""Who an interval belongs to."""

_RESOURCE_OF = {
    **dict.fromkeys(CPU_TIME + CPU_USAGE + CPU_REQUEST, "cpu"),
    **dict.fromkeys(MEMORY_USAGE + MEMORY_REQUEST, "memory"),
}
_KIND_OF = {
    **dict.fromkeys(CPU_TIME + CPU_USAGE + MEMORY_USAGE, "usage"),
    **dict.fromkeys(CPU_REQUEST + MEMORY_REQUEST, "request"),
}
_WORKLOAD_ATTRIBUTES = ("k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name", "k8s.cronjob.name")
_DERIVED = {
    "k8s_workload": "coalesce("
    + ", ".join(f"resource_attributes['{a}']" for a in _WORKLOAD_ATTRIBUTES)
    + ", resource_attributes['k8s.job.name'])"
}
_POINT = ["metric_name", "series_id", "start_time", "time", "value"]
_IDENTITY = [
    "service_name",
    "service_namespace",
    "deployment_environment_name",
    "k8s_namespace_name",
    "k8s_pod_name",
    "k8s_container_name",
    "k8s_workload",
]

INTERVAL_SCHEMA: dict[str, pl.DataType] = {
    **{name: pl.String() for name in SUBJECT},
    "resource": pl.String(),
    "kind": pl.String(),
    "source": pl.String(),
    "start": pl.Datetime("ns"),
    "end": pl.Datetime("ns"),
    "value": pl.Float64(),
    "seconds": pl.Float64(),
    "sample": pl.Boolean(),
}


def _read(
    sources: Sources, table: str, names: tuple[str, ...], period: Period, extra: list[str], lookahead: timedelta
) -> pl.DataFrame:
    if not sources.has(table):
        return pl.DataFrame()
    frame = (
        sources.scan(table, window=("time", period.start - LOOKBACK, period.end + lookahead), derived=_DERIVED)
        .filter(any_equal("metric_name", names) & pl.col("value").is_finite())
        .select(*_POINT, *extra, *_IDENTITY)
        .collect()
    )
    return frame.with_columns(
        team=pl.coalesce("service_namespace", "k8s_namespace_name"),
        workload=pl.coalesce("service_name", "k8s_workload", "k8s_pod_name"),
        environment=pl.col("deployment_environment_name"),
        k8s_namespace=pl.col("k8s_namespace_name"),
        pod=pl.col("k8s_pod_name"),
        container=pl.col("k8s_container_name"),
        resource=pl.col("metric_name").replace_strict(_RESOURCE_OF, return_dtype=pl.String),
        kind=pl.col("metric_name").replace_strict(_KIND_OF, return_dtype=pl.String),
    ).pipe(distinct_points)


def distinct_points(points: pl.DataFrame) -> pl.DataFrame:
    """Points sorted by series and time, each (series, time) once: an exporter that retries an export the
    collector had stored already stores its points twice, and a point counts once (of two that differ, the
    lower value)."""
    return points.sort("series_id", "time", "value").unique(["series_id", "time"], keep="first", maintain_order=True)


# The interval rules below apply to a DataFrame (``sources.Frame``), or to a LazyFrame that a query then sums
# without keeping every interval.
Previous = Callable[[str], pl.Expr]
"""A column's value at the previous point of the same series (null for a series' first point)."""


def _previous(column: str) -> pl.Expr:
    """``Previous`` for points sorted by time within each series, whatever the order of the series."""
    return pl.col(column).shift(1).over("series_id")


def counter_intervals(points: Frame, previous: Previous = _previous) -> Frame:
    """Rates from cumulative or delta counter points (value in seconds of CPU): cores over intervals."""
    if isinstance(points, pl.DataFrame) and points.is_empty():
        return points
    prev_time, prev_value, prev_start = previous("time"), previous("value"), previous("start_time")
    start_time, value = pl.col("start_time"), pl.col("value")
    same_run = (
        prev_time.is_not_null()
        & (start_time.is_null() | prev_start.is_null() | (start_time == prev_start))
        & (value >= prev_value)
    )
    cumulative_start = (
        pl.when(same_run)
        .then(prev_time)
        .when(start_time.is_not_null() & (prev_time.is_null() | (start_time >= prev_time)))
        .then(start_time)
        .otherwise(prev_time)
    )
    delta = pl.col("aggregation_temporality") == DELTA
    frame = points.with_columns(
        start=pl.when(delta).then(pl.coalesce(start_time, prev_time)).otherwise(cumulative_start),
        increase=pl.when(delta | ~same_run).then(value).otherwise(value - prev_value),
    ).with_columns(seconds=to_seconds(pl.col("time") - pl.col("start")))
    frame = frame.filter(pl.col("start").is_not_null() & (pl.col("seconds") > 0))
    rate = pl.col("increase") / pl.col("seconds")
    return frame.with_columns(end=pl.col("time"), value=rate, source=pl.lit("counter")).drop("seconds")


def gauge_intervals(points: Frame, previous: Previous = _previous) -> Frame:
    """Gauge values held since the previous point of the series, at most MAX_GAP back: a series' first
    point too, so that an interval depends only on the points within MAX_GAP before it, which every pass
    reads (its lookback), and the hours rolled up one at a time equal a pass over a long period."""
    if isinstance(points, pl.DataFrame) and points.is_empty():
        return points
    start = pl.max_horizontal(previous("time"), pl.col("time") - MAX_GAP)  # no previous point: MAX_GAP
    return points.with_columns(start=start, end=pl.col("time"), source=pl.lit("gauge"))


def _clip(frame: Frame, period: Period) -> Frame:
    start = pl.max_horizontal("start", pl.lit(period.start).cast(pl.Datetime("ns")))
    end = pl.min_horizontal("end", pl.lit(period.end).cast(pl.Datetime("ns")))
    sample = (pl.col("end") > period.start) & (pl.col("end") <= period.end)
    clipped = frame.with_columns(start=start, end=end, sample=sample).filter(
        (pl.col("start") < pl.col("end")) | pl.col("sample")
    )
    return clipped.with_columns(seconds=to_seconds(pl.col("end") - pl.col("start")).clip(0.0))


def read_intervals(sources: Sources, period: Period, lookahead: timedelta = LOOKBACK) -> pl.DataFrame:
    """Every usage and request interval of the period, one row each (see INTERVAL_SCHEMA).

    ``lookahead``: points read after the period's end, whose intervals start inside it: their part inside
    the period counts, and they are not samples of it. By default as far as the lookback, so that a period
    that ends on an hour counts what the hourly rollups count."""
    sums = _read(sources, "otel_metrics_sum", CPU_TIME + CPU_REQUEST + MEMORY_REQUEST + MEMORY_USAGE, period,
                 ["aggregation_temporality", "is_monotonic"], lookahead)  # fmt: skip
    gauges = _read(sources, "otel_metrics_gauge", CPU_USAGE + CPU_REQUEST + MEMORY_REQUEST + MEMORY_USAGE, period, [],
                   lookahead)  # fmt: skip
    parts = []
    if not sums.is_empty():
        parts.append(counter_intervals(sums.filter(any_equal("metric_name", CPU_TIME))))
        parts.append(gauge_intervals(sums.filter(~any_equal("metric_name", CPU_TIME))))
    if not gauges.is_empty():
        parts.append(gauge_intervals(gauges))
    parts = [p.select(*SUBJECT, "resource", "kind", "source", "start", "end", "value") for p in parts if len(p)]
    if not parts:
        return pl.DataFrame(schema=INTERVAL_SCHEMA)
    frame = _clip(pl.concat(parts, how="vertical_relaxed"), period)
    frame = _prefer(frame)
    return shaped(frame, INTERVAL_SCHEMA)


def _prefer(frame: pl.DataFrame) -> pl.DataFrame:
    """One source per subject: CPU from the counter when a subject has both the counter and the gauge, and
    a pod's own metrics only when none of its containers report the same thing."""
    keys = ["resource", "kind"]
    counted = frame.filter(pl.col("source") == "counter").select(*SUBJECT, *keys).unique()
    frame = pl.concat(
        [
            frame.filter(pl.col("source") == "counter"),
            frame.filter(pl.col("source") == "gauge").join(counted, on=[*SUBJECT, *keys], how="anti", nulls_equal=True),
        ]
    )
    pod = ["k8s_namespace", "pod", *keys]
    with_containers = frame.filter(pl.col("container").is_not_null()).select(pod).unique()
    return pl.concat(
        [
            frame.filter(pl.col("container").is_not_null()),
            frame.filter(pl.col("container").is_null()).join(with_containers, on=pod, how="anti", nulls_equal=True),
        ]
    )


def ending_hour() -> pl.Expr:
    """The hour an interval ends in, where its sample counts: hours are ``(H, H + 1h]``."""
    return (pl.col("end") - pl.duration(nanoseconds=1)).dt.truncate("1h")


def split_hours(frame: Frame) -> Frame:
    """Each interval ``(start, end]`` cut at the hours it crosses, with the ``hour`` each piece is in: a
    piece's ``seconds`` are its part of the interval, and only the piece of the hour the interval ends in
    keeps its ``sample``. An hour is ``(H, H + 1h]``, as a rollup's hour counts it, so that hours computed
    over a long period equal hours computed one at a time."""
    last = ending_hour()
    first = pl.min_horizontal(pl.col("start").dt.truncate("1h"), last)
    marked = frame.with_columns(first_hour=first, hour=last)
    single = marked.filter(pl.col("first_hour") == pl.col("hour"))
    pieces = (
        marked.filter(pl.col("first_hour") != pl.col("hour"))
        .with_columns(last_hour="hour", hour=pl.datetime_ranges("first_hour", "hour", interval="1h"))
        .explode("hour")
        .with_columns(
            start=pl.max_horizontal("start", "hour"),
            end=pl.min_horizontal("end", pl.col("hour") + HOUR),
            sample=pl.col("sample") & (pl.col("hour") == pl.col("last_hour")),
        )
        .with_columns(seconds=to_seconds(pl.col("end") - pl.col("start")).clip(0.0))
        .drop("last_hour")
    )
    return pl.concat([single, pieces], how="vertical_relaxed").drop("first_hour")


HOURLY_SCHEMA: dict[str, pl.DataType] = {
    **{name: pl.String() for name in SUBJECT},
    "resource": pl.String(),
    "hour": TS,
    "usage_avg": pl.Float64(),
    "request_avg": pl.Float64(),
    "running_hours": pl.Float64(),
    "allocated_hours": pl.Float64(),
    "idle_hours": pl.Float64(),
    "requested_hours": pl.Float64(),
}


def hourly(intervals: pl.DataFrame) -> pl.DataFrame:
    """Per subject, resource and hour (an interval counts its part in each hour it crosses, ``split_hours``):
    the time-weighted average usage and request, how long the subject ran, and what it was allocated:
    max(request, usage) x time, of which idle is (request - usage)+ x time. Units are core-hours or
    byte-hours."""
    if intervals.is_empty():
        return pl.DataFrame(schema=HOURLY_SCHEMA)
    usage, request = pl.col("kind") == "usage", pl.col("kind") == "request"
    weighted = pl.col("value") * pl.col("seconds")
    frame = (
        split_hours(intervals)
        .with_columns(pl.col("hour").cast(TS))
        .group_by([*SUBJECT, "resource", "hour"])
        .agg(
            use_int=weighted.filter(usage).sum(),
            use_sec=pl.col("seconds").filter(usage).sum(),
            req_int=weighted.filter(request).sum(),
            req_sec=pl.col("seconds").filter(request).sum(),
        )
    )
    use_avg = pl.when(pl.col("use_sec") > 0).then(pl.col("use_int") / pl.col("use_sec"))
    req_avg = pl.when(pl.col("req_sec") > 0).then(pl.col("req_int") / pl.col("req_sec"))
    frame = frame.with_columns(usage_avg=use_avg, request_avg=req_avg).with_columns(
        running_hours=pl.max_horizontal("use_sec", "req_sec").clip(upper_bound=3600.0) / 3600.0
    )
    idle = (pl.col("request_avg") - pl.col("usage_avg")).clip(lower_bound=0.0)
    return frame.with_columns(
        allocated_hours=pl.max_horizontal("request_avg", "usage_avg").fill_null(0.0) * pl.col("running_hours"),
        idle_hours=idle * pl.col("running_hours"),
        requested_hours=pl.col("request_avg") * pl.col("running_hours"),
    ).select(list(HOURLY_SCHEMA))
