"""Cost: OpenCost-style allocation of containers, plus the catalog resources workloads consume.

Each container (or pod) costs max(request, usage) x unit price for the time it ran, hour by hour; the part
that was requested but not used, (request - usage)+ x price, is reported apart as idle cost. Each catalog
resource (one ``res_id`` in one environment) costs its type's and class's hourly price from its first
binding or deployment on, split evenly among the consumers it has at the period's end. Costs roll up per
workload, team, environment and resource definition, per day and for the whole period.
"""

from __future__ import annotations

import polars as pl

from trellis.analytics import consumers as c
from trellis.analytics.frames import TS, conform, days, empty, hours
from trellis.analytics.job import AnalyticsConfig, Job
from trellis.analytics.metrics import hourly, read_intervals
from trellis.analytics.prices import merged, resource_price
from trellis.analytics.sources import Period, Sources
from trellis.analytics.usage_sql import USAGE, cost_lines

GIB = float(1 << 30)

LEVELS: dict[str, list[str]] = {
    "workload": ["team", "workload", "environment"],
    "team": ["team"],
    "environment": ["environment"],
    "definition": ["definition_id"],
}

SCHEMA: dict[str, pl.DataType] = {
    "level": pl.String(),
    "team": pl.String(),
    "workload": pl.String(),
    "environment": pl.String(),
    "definition_id": pl.String(),
    "bucket": pl.String(),
    "bucket_start": TS,
    "bucket_end": TS,
    "currency": pl.String(),
    "cpu_core_hours": pl.Float64(),
    "memory_gib_hours": pl.Float64(),
    "resource_hours": pl.Float64(),
    "cpu_cost": pl.Float64(),
    "memory_cost": pl.Float64(),
    "resource_cost": pl.Float64(),
    "idle_cpu_cost": pl.Float64(),
    "idle_memory_cost": pl.Float64(),
    "idle_cost": pl.Float64(),
    "total_cost": pl.Float64(),
}
_AMOUNTS = [name for name, dtype in SCHEMA.items() if dtype == pl.Float64()]


def _containers(sources: Sources, period: Period, prices: dict[str, float]) -> pl.DataFrame:
    """Container cost per team, workload, environment and day, summed in DuckDB (``usage_sql``)."""
    frame = cost_lines(sources, period, prices["cpu_core_hour"], prices["memory_gib_hour"], GIB)
    return frame if not frame.is_empty() else pl.DataFrame()


def _containers_in_polars(sources: Sources, period: Period, prices: dict[str, float]) -> pl.DataFrame:
    """The same, hour by hour from every interval in Polars: the reference ``_containers`` is tested against."""
    frame = hourly(read_intervals(sources, period))
    if frame.is_empty():
        return pl.DataFrame()
    cpu, memory = pl.col("resource") == "cpu", pl.col("resource") == "memory"
    cpu_price, memory_price = prices["cpu_core_hour"], prices["memory_gib_hour"]
    idle = pl.col("idle_hours").fill_null(0.0)
    return frame.select(
        "team",
        "workload",
        "environment",
        day=pl.col("hour").dt.truncate("1d"),
        cpu_core_hours=pl.when(cpu).then(pl.col("allocated_hours")).otherwise(0.0),
        memory_gib_hours=pl.when(memory).then(pl.col("allocated_hours") / GIB).otherwise(0.0),
        cpu_cost=pl.when(cpu).then(pl.col("allocated_hours") * cpu_price).otherwise(0.0),
        memory_cost=pl.when(memory).then(pl.col("allocated_hours") / GIB * memory_price).otherwise(0.0),
        idle_cpu_cost=pl.when(cpu).then(idle * cpu_price).otherwise(0.0),
        idle_memory_cost=pl.when(memory).then(idle / GIB * memory_price).otherwise(0.0),
    )


def _resources(sources: Sources, period: Period, prices: dict[str, float]) -> pl.DataFrame:
    history = c.events(sources, period.end)
    if history.is_empty():
        return pl.DataFrame()
    defs = c.definitions(sources).select("definition_id", def_type="type")
    instance = ["env", "res_id"]
    first_seen = history.group_by(instance).agg(first_seen=pl.col("at").min())
    now = (
        c.state_at(history, [period.end])
        .join(defs, on="definition_id", how="left")
        .with_columns(type=pl.coalesce("type", "def_type"), **{"class": pl.col("class").fill_null("default")})
        .join(first_seen, on=instance, how="left")
        .with_columns(sharers=pl.len().over(instance))
    )
    price = pl.struct("type", "class").map_elements(
        lambda r: resource_price(prices, r["type"], r["class"]), return_dtype=pl.Float64
    )
    buckets = days(period).select(
        day=pl.col("bucket_start").dt.truncate("1d"), day_start="bucket_start", day_end="bucket_end"
    )
    exists_from = pl.max_horizontal("first_seen", "day_start").cast(TS)
    frame = (
        now.with_columns(price=price)
        .join(buckets, how="cross")
        .with_columns(span=hours(pl.col("day_end") - exists_from).clip(lower_bound=0.0))
        .filter(pl.col("span") > 0)
    )
    return frame.select(
        team="app",
        workload="workload",
        environment="env",
        definition_id="definition_id",
        day="day",
        resource_hours=pl.col("span") / pl.col("sharers"),
        resource_cost=pl.col("span") * pl.col("price") / pl.col("sharers"),
    )


def run(sources: Sources, period: Period, config: AnalyticsConfig) -> pl.DataFrame:
    prices = merged(config.prices)
    items = [f for f in (_containers(sources, period, prices), _resources(sources, period, prices)) if len(f)]
    if not items:
        return empty(SCHEMA)
    lines = pl.concat(items, how="diagonal_relaxed")
    base = [n for n in _AMOUNTS if n not in ("idle_cost", "total_cost")]
    lines = lines.with_columns(
        *(pl.col(n).fill_null(0.0) if n in lines.columns else pl.lit(0.0).alias(n) for n in base),
        *(pl.lit(None, dtype=pl.String).alias(k) for k in ("team", "workload", "environment", "definition_id")
          if k not in lines.columns),
    )  # fmt: skip
    sums = [pl.col(n).sum() for n in base]
    day_ends = days(period).select("bucket_start", "bucket_end", day=pl.col("bucket_start").dt.truncate("1d"))
    frames = []
    for level, keys in LEVELS.items():
        scoped = lines.filter(pl.col("definition_id").is_not_null()) if level == "definition" else lines
        daily = (
            scoped.group_by([*keys, "day"])
            .agg(sums)
            .join(day_ends, on="day", how="left")
            .with_columns(bucket=pl.lit("day"))
        )
        whole = (
            scoped.group_by(keys)
            .agg(sums)
            .with_columns(
                bucket=pl.lit("period"),
                bucket_start=pl.lit(period.start).cast(TS),
                bucket_end=pl.lit(period.end).cast(TS),
            )
        )
        frames += [whole.with_columns(level=pl.lit(level)), daily.with_columns(level=pl.lit(level))]
    frame = pl.concat(frames, how="diagonal_relaxed").with_columns(
        currency=pl.lit(config.currency),
        idle_cost=pl.col("idle_cpu_cost") + pl.col("idle_memory_cost"),
        total_cost=pl.col("cpu_cost") + pl.col("memory_cost") + pl.col("resource_cost"),
    )
    order = {level: n for n, level in enumerate(LEVELS)}
    return conform(frame, SCHEMA).sort(
        pl.col("level").replace_strict(order, return_dtype=pl.Int32),
        "team",
        "workload",
        "environment",
        "definition_id",
        pl.col("bucket") != "period",
        "bucket_start",
        nulls_last=False,
    )


JOB = Job(
    "cost",
    "OpenCost-style cost per workload, team, environment and resource definition, with idle cost",
    run,
    shares=(USAGE,),
    reads_catalog=True,
)
