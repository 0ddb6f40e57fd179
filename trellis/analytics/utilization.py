"""Utilization: CPU and memory used against what was requested, per workload and container."""

from __future__ import annotations

import polars as pl

from trellis.analytics.frames import conform, empty
from trellis.analytics.job import AnalyticsConfig, Job
from trellis.analytics.metrics import hourly, read_intervals
from trellis.analytics.sketch import ACCURACY
from trellis.analytics.sources import Period, Sources
from trellis.analytics.usage_sql import USAGE, utilization_totals

KEYS = ["team", "workload", "environment", "container", "resource"]
UNITS = {"cpu": "cores", "memory": "bytes"}
PERCENTILE_ACCURACY = ACCURACY
"""``usage_p50`` and ``usage_p95`` (and the recommended request made from it) are within this fraction of
the exact percentile of the samples (``sketch``); ``usage_max`` is exact."""

SCHEMA: dict[str, pl.DataType] = {
    "team": pl.String(),
    "workload": pl.String(),
    "environment": pl.String(),
    "container": pl.String(),
    "resource": pl.String(),
    "unit": pl.String(),
    "pods": pl.Int64(),
    "samples": pl.Int64(),
    "usage_avg": pl.Float64(),
    "usage_p50": pl.Float64(),
    "usage_p95": pl.Float64(),
    "usage_max": pl.Float64(),
    "request_avg": pl.Float64(),
    "usage_to_request": pl.Float64(),
    "idle_share": pl.Float64(),
    "usage_hours": pl.Float64(),
    "request_hours": pl.Float64(),
    "recommended_request": pl.Float64(),
    "recommended_change": pl.Float64(),
}


def run(sources: Sources, period: Period, config: AnalyticsConfig) -> pl.DataFrame:
    frame = utilization_totals(sources, period)
    if frame.is_empty():
        return empty(SCHEMA)
    return _finish(frame, config)


def run_in_polars(sources: Sources, period: Period, config: AnalyticsConfig) -> pl.DataFrame:
    """The same table computed from every interval in Polars (``metrics.read_intervals``), with exact
    percentiles: the reference ``run`` is tested against; it holds every point of the period in memory."""
    intervals = read_intervals(sources, period)
    if intervals.is_empty():
        return empty(SCHEMA)
    usage, request = pl.col("kind") == "usage", pl.col("kind") == "request"
    samples = usage & pl.col("sample")
    weighted = pl.col("value") * pl.col("seconds")
    seconds = pl.col("seconds")
    totals = intervals.group_by(KEYS).agg(
        pods=pl.col("pod").filter(usage | request).n_unique(),
        samples=samples.sum(),
        usage_int=weighted.filter(usage).sum(),
        usage_sec=seconds.filter(usage).sum(),
        request_int=weighted.filter(request).sum(),
        request_sec=seconds.filter(request).sum(),
        usage_p50=pl.col("value").filter(samples).quantile(0.5, "linear"),
        usage_p95=pl.col("value").filter(samples).quantile(0.95, "linear"),
        usage_max=pl.col("value").filter(samples).max(),
    )
    hours = hourly(intervals)
    idle = (
        hours.filter(pl.col("idle_hours").is_not_null())
        .group_by(KEYS)
        .agg(idle=pl.col("idle_hours").sum(), requested=pl.col("requested_hours").sum())
    )
    return _finish(totals.join(idle, on=KEYS, how="left", nulls_equal=True), config)


def _finish(frame: pl.DataFrame, config: AnalyticsConfig) -> pl.DataFrame:
    """From the sums per group to the documented columns."""
    usage_avg = pl.when(pl.col("usage_sec") > 0).then(pl.col("usage_int") / pl.col("usage_sec"))
    request_avg = pl.when(pl.col("request_sec") > 0).then(pl.col("request_int") / pl.col("request_sec"))
    frame = frame.with_columns(usage_avg=usage_avg, request_avg=request_avg).with_columns(
        unit=pl.col("resource").replace_strict(UNITS, return_dtype=pl.String),
        usage_to_request=pl.when(pl.col("request_avg") > 0).then(pl.col("usage_avg") / pl.col("request_avg")),
        idle_share=pl.when(pl.col("requested") > 0).then(pl.col("idle") / pl.col("requested")),
        usage_hours=pl.col("usage_int") / 3600.0,
        request_hours=pl.col("request_int") / 3600.0,
        recommended_request=pl.col("usage_p95") * config.headroom,
    )
    frame = frame.with_columns(recommended_change=pl.col("recommended_request") - pl.col("request_avg"))
    return conform(frame, SCHEMA).sort(KEYS, nulls_last=False)


JOB = Job(
    "utilization",
    "CPU and memory usage against requests per workload and container, with a right-size",
    run,
    shares=(USAGE,),
)
