"""DORA: deployment frequency, lead time, change failure rate, recovery time and rework rate.

Per workload, team and environment, as weekly series and for the whole period, with the
performance band of each metric by the 2023 benchmarks Apache DevLake ships. docs/analytics.md
gives every definition; the constants below are its thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from trellis.analytics.dora_links import changes, link_incidents, recoveries_of_deployments
from trellis.analytics.dora_reads import (
    DAY_NS,
    KEYS,
    Deployments,
    epoch_ns,
    read_deployments,
    read_incidents,
)
from trellis.analytics.frames import (
    TS,
    band,
    conform,
    days_of,
    empty,
    hours,
    in_environments,
    in_period,
    lower_median,
    month_start,
    months,
    week_start,
    weeks,
)
from trellis.analytics.job import AnalyticsConfig, Job
from trellis.analytics.sources import Period, Sources

ELITE_DEPLOYMENT_DAYS_PER_WEEK = 7
"""Elite deploys on demand: the median week has a successful deployment every day."""
LEAD_TIME_HOURS = (24.0, 24.0 * 7, 24.0 * 30)
"""Median lead time below 1 day elite, below 1 week high, below 30 days medium, otherwise low."""
RECOVERY_HOURS = (1.0, 24.0, 24.0 * 7)
"""Median recovery below 1 hour elite, below 1 day high, below 1 week medium, otherwise low."""
CHANGE_FAILURE_RATE = (0.05, 0.10, 0.15)
"""Change failure rate at most 5% elite, at most 10% high, at most 15% medium, otherwise low."""

LEVELS: dict[str, list[str]] = {
    "workload": ["service_namespace", "service_name", "environment"],
    "team": ["service_namespace", "environment"],
    "environment": ["environment"],
}

SCHEMA: dict[str, pl.DataType] = {
    "level": pl.String(),
    "service_namespace": pl.String(),
    "service_name": pl.String(),
    "environment": pl.String(),
    "production": pl.Boolean(),
    "bucket": pl.String(),
    "bucket_start": TS,
    "bucket_end": TS,
    "deployments": pl.Int64(),
    "successful_deployments": pl.Int64(),
    "deployment_days": pl.Int64(),
    "deployments_per_day": pl.Float64(),
    "median_deployment_days_per_week": pl.Float64(),
    "median_deployment_days_per_month": pl.Float64(),
    "deployment_frequency_band": pl.String(),
    "lead_time_changes": pl.Int64(),
    "lead_time_median_hours": pl.Float64(),
    "lead_time_band": pl.String(),
    "failed_deployments": pl.Int64(),
    "change_failure_rate": pl.Float64(),
    "change_failure_rate_band": pl.String(),
    "incidents": pl.Int64(),
    "recoveries": pl.Int64(),
    "unrecovered_failures": pl.Int64(),
    "recovery_median_hours": pl.Float64(),
    "recovery_band": pl.String(),
    "rework_deployments": pl.Int64(),
    "rework_rate": pl.Float64(),
}


@dataclass(frozen=True)
class _Calendar:
    """The period's days, weeks and months as numbers: day 0 is the Monday its first week starts on, week
    ``n`` holds days ``7n`` to ``7n + 6``."""

    base: datetime
    weeks: pl.DataFrame
    """``week``, ``bucket_start``, ``bucket_end`` and ``whole`` (``frames.weeks``)."""
    frequency_weeks: pl.Series
    frequency_months: pl.Series
    """The weeks and months the deployment frequency's medians go over: the whole ones (all when none is)."""
    week_months: pl.DataFrame
    """``week``, ``month`` (its row in ``frames.months``) and ``bits``: the week's days in that month."""

    @classmethod
    def of(cls, period: Period) -> _Calendar:
        base = week_start(period.start)
        week_rows, month_rows = weeks(period).with_row_index("week"), months(period).with_row_index("month")
        starts = [month_start(m) for m in month_rows["bucket_start"].to_list()]
        bits: dict[tuple[int, int], int] = {}
        for week in range(week_rows.height):
            for day in range(7):
                start = month_start(base + timedelta(days=7 * week + day))
                if start in starts:
                    key = (week, starts.index(start))
                    bits[key] = bits.get(key, 0) | 1 << day

        def chosen(rows: pl.DataFrame, index: str) -> pl.Series:
            return (rows.filter(pl.col("whole")) if rows["whole"].any() else rows)[index].cast(pl.Int64)

        week_months = pl.DataFrame(
            {"week": [w for w, _ in bits], "month": [m for _, m in bits], "bits": list(bits.values())},
            schema={"week": pl.Int64, "month": pl.Int64, "bits": pl.Int64},
        )
        weeks_frame = week_rows.with_columns(pl.col("week").cast(pl.Int64))
        return cls(base, weeks_frame, chosen(week_rows, "week"), chosen(month_rows, "month"), week_months)

    def week(self, column: str) -> pl.Expr:
        """The number of the week a time column is in."""
        return (pl.col(column).dt.epoch("ns") - epoch_ns(self.base)) // (7 * DAY_NS)

    def key(self, group: pl.Expr) -> pl.Expr:
        """A group's week as one integer (``k * weeks + week``): grouping by one integer is much cheaper."""
        return group.cast(pl.Int64) * self.weeks.height + pl.col("week")


@dataclass(frozen=True)
class _Facts:
    """What the period's rows are made of, per workload (``w``, a row of ``_names``) and week."""

    weekly: pl.DataFrame
    """``w``, ``week``, ``deployments``, ``successful``, ``days`` (``Deployments.weekly``)."""
    changes: pl.DataFrame
    """``w``, ``week``, ``failed_deployments``, ``rework_deployments``."""
    lead_times: pl.DataFrame
    """``w``, ``week``, ``lead_time`` (ns), sorted by lead time."""
    incidents: pl.DataFrame
    """``w``, ``week``: one row per production incident opened in the period."""
    recoveries: pl.DataFrame
    """``w``, ``week``, ``recovery`` (ns; null: not recovered), sorted by recovery, nulls last."""


def _names(deployments: Deployments, incidents: pl.DataFrame) -> pl.DataFrame:
    """Every workload a row can be about, numbered ``w`` from 0: those with deployments, then those only
    incidents name; with the number of its team (``team``) and environment (``env``)."""
    known = deployments.workloads.select(*KEYS, "workload")
    others = incidents.select(KEYS).unique().join(known, on=KEYS, how="anti", nulls_equal=True)
    names = pl.concat([known, others], how="diagonal").with_row_index("w")
    for number, keys in (("team", LEVELS["team"]), ("env", LEVELS["environment"])):
        numbered = names.select(keys).unique().with_row_index(number)
        names = names.join(numbered, on=keys, how="left", nulls_equal=True)
    return names.sort("w")


def _facts(
    deployments: Deployments,
    changes: pl.DataFrame,
    incidents: pl.DataFrame,
    names: pl.DataFrame,
    calendar: _Calendar,
    period: Period,
) -> _Facts:
    """The period's facts per workload and week; workloads become rows of ``names``."""
    by_number = names.select("workload", "w").drop_nulls("workload")
    in_changes = changes.filter(in_period("finished_at", period)).join(by_number, on="workload")
    in_changes = in_changes.with_columns(week=calendar.week("finished_at"))
    per_week = (
        in_changes.group_by(calendar.key(pl.col("w")).alias("key"))
        .agg(
            pl.col("w", "week").first(),
            failed_deployments=pl.col("failed_change").sum(),
            rework_deployments=pl.col("rework").sum(),
        )
        .drop("key")
    )
    lead_times = in_changes.filter(pl.col("lead_time").is_not_null()).select("w", "week", "lead_time")
    production = incidents.filter(pl.col("production")).join(names.select(*KEYS, "w"), on=KEYS, nulls_equal=True)
    recoveries = pl.concat(
        [
            production.select(
                "w", at="opened_at", recovery=(pl.col("resolved_at") - pl.col("opened_at")).dt.total_nanoseconds()
            ),
            recoveries_of_deployments(changes, deployments.workloads)
            .join(by_number, on="workload")
            .select("w", "at", "recovery"),
        ],
        how="vertical_relaxed",
    )
    opened = production.filter(pl.col("environment").is_not_null()).select("w", at="opened_at")
    week = calendar.week("at").alias("week")
    return _Facts(
        deployments.weekly.join(by_number, on="workload").drop("workload"),
        per_week,
        lead_times.sort("lead_time"),
        opened.filter(in_period("at", period)).select("w", week),
        recoveries.filter(in_period("at", period)).select("w", week, "recovery").sort("recovery", nulls_last=True),
    )


def _bands(frame: pl.DataFrame) -> pl.DataFrame:
    per_week, per_month = pl.col("median_deployment_days_per_week"), pl.col("median_deployment_days_per_month")
    frequency = (
        pl.when(pl.col("bucket") != "period")
        .then(pl.lit(None, dtype=pl.String))
        .when(per_week >= ELITE_DEPLOYMENT_DAYS_PER_WEEK)
        .then(pl.lit("elite"))
        .when(per_week >= 1)
        .then(pl.lit("high"))
        .when(per_month >= 1)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )
    failed, total = pl.col("failed_deployments"), pl.col("deployments")
    cfr = (
        pl.when(~pl.col("production") | (total == 0))
        .then(pl.lit(None, dtype=pl.String))
        .when(failed * 20 <= total)
        .then(pl.lit("elite"))
        .when(failed * 10 <= total)
        .then(pl.lit("high"))
        .when(failed * 100 <= total * 15)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )
    return frame.with_columns(
        deployment_frequency_band=frequency,
        lead_time_band=band(pl.col("lead_time_median_hours"), LEAD_TIME_HOURS),
        change_failure_rate_band=cfr,
        recovery_band=band(pl.col("recovery_median_hours"), RECOVERY_HOURS),
    )


_LEVEL_NUMBERS = {"workload": "w", "team": "team", "environment": "env"}
_COUNTS = [
    "deployments",
    "successful_deployments",
    "deployment_days",
    "lead_time_changes",
    "failed_deployments",
    "incidents",
    "recoveries",
    "unrecovered_failures",
    "rework_deployments",
]


def _sorted_lower_median(column: str) -> pl.Expr:
    """``lower_median`` of a column the frame is sorted by (nulls last): a group keeps the frame's order, so
    its middle value is found without sorting the group again."""
    values = pl.col(column)
    return values.get(((values.count().cast(pl.Int64) - 1) // 2).clip(lower_bound=0))


def _level(
    level: str, facts: _Facts, names: pl.DataFrame, calendar: _Calendar, period: Period, config: AnalyticsConfig
) -> pl.DataFrame:
    """A level's rows: per group (``k``: a workload, team or environment), one for the period and one per
    week. Counts add up from the workloads' weeks; days with deployments and medians are taken anew."""
    number = names[_LEVEL_NUMBERS[level]]

    def grouped(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(k=number.gather(frame["w"])).with_columns(key=calendar.key(pl.col("k")))

    weekly = grouped(facts.weekly)
    if level != "workload":
        weekly = weekly.group_by("key").agg(
            pl.col("k", "week").first(), pl.col("deployments", "successful").sum(), pl.col("days").bitwise_or()
        )
    lead_times, incidents, recoveries = (grouped(f) for f in (facts.lead_times, facts.incidents, facts.recoveries))
    groups = pl.concat([f.select("k") for f in (weekly, incidents, recoveries)]).unique()
    if groups.is_empty():
        return empty(SCHEMA)
    counts = _weekly(weekly, grouped(facts.changes), lead_times, incidents, recoveries)
    grid = groups.join(calendar.weeks.select("week", "bucket_start", "bucket_end"), how="cross")
    per_week = (
        grid.with_columns(key=calendar.key(pl.col("k")))
        .join(counts, on="key", how="left")
        .with_columns(pl.col(_COUNTS).fill_null(0))
    )
    whole = per_week.group_by("k").agg(pl.col(_COUNTS).sum())
    for medians in (
        lead_times.group_by("k").agg(lead_time_median=_sorted_lower_median("lead_time")),
        recoveries.group_by("k").agg(recovery_median=_sorted_lower_median("recovery")),
        _frequency(per_week, weekly, groups, calendar),
    ):
        whole = whole.join(medians, on="k", how="left")
    whole = whole.with_columns(
        bucket=pl.lit("period"), bucket_start=pl.lit(period.start).cast(TS), bucket_end=pl.lit(period.end).cast(TS)
    )
    frame = pl.concat([whole, per_week.with_columns(bucket=pl.lit("week"))], how="diagonal_relaxed")
    keys = names.select(pl.col(_LEVEL_NUMBERS[level]).alias("k"), *LEVELS[level]).unique(subset="k")
    frame = frame.join(keys, on="k", how="left").with_columns(
        lead_time_median_hours=hours(pl.col("lead_time_median").cast(pl.Duration("ns"))),
        recovery_median_hours=hours(pl.col("recovery_median").cast(pl.Duration("ns"))),
    )
    return _rates(level, frame, config)


def _weekly(
    weekly: pl.DataFrame,
    changes: pl.DataFrame,
    lead_times: pl.DataFrame,
    incidents: pl.DataFrame,
    recoveries: pl.DataFrame,
) -> pl.DataFrame:
    """Per group and week (``key``) that has any: the counts and the medians."""
    parts = [
        weekly.select(
            "key",
            "deployments",
            successful_deployments="successful",
            deployment_days=pl.col("days").bitwise_count_ones(),
        ),
        changes.group_by("key").agg(pl.col("failed_deployments", "rework_deployments").sum()),
        lead_times.group_by("key").agg(lead_time_changes=pl.len(), lead_time_median=_sorted_lower_median("lead_time")),
        incidents.group_by("key").agg(incidents=pl.len()),
        recoveries.group_by("key").agg(
            recoveries=pl.col("recovery").count(),
            unrecovered_failures=pl.col("recovery").null_count(),
            recovery_median=_sorted_lower_median("recovery"),
        ),
    ]
    frame = parts[0]
    for part in parts[1:]:
        frame = frame.join(part, on="key", how="full", coalesce=True)
    return frame


def _frequency(per_week: pl.DataFrame, weekly: pl.DataFrame, groups: pl.DataFrame, calendar: _Calendar) -> pl.DataFrame:
    """Median deployment days per week and per month, over the whole weeks and months inside the period
    (all the partial ones when none is whole); weeks and months without deployments count as 0."""
    in_weeks = per_week.filter(pl.col("week").is_in(calendar.frequency_weeks.implode()))
    by_week = in_weeks.group_by("k").agg(median_deployment_days_per_week=lower_median(pl.col("deployment_days")))
    monthly = (
        weekly.join(calendar.week_months, on="week")
        .group_by("k", "month")
        .agg(days=(pl.col("days") & pl.col("bits")).bitwise_count_ones().sum())
    )
    by_month = (
        groups.join(calendar.frequency_months.to_frame(), how="cross")
        .join(monthly, on=["k", "month"], how="left")
        .group_by("k")
        .agg(median_deployment_days_per_month=lower_median(pl.col("days").fill_null(0)))
    )
    return by_week.join(by_month, on="k", how="full", coalesce=True)


def _rates(level: str, frame: pl.DataFrame, config: AnalyticsConfig) -> pl.DataFrame:
    """The level's rows with their counts as integers, the rates, the production-only figures and the bands."""
    span_days = days_of(pl.col("bucket_end") - pl.col("bucket_start"))
    frame = frame.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in _COUNTS).with_columns(
        level=pl.lit(level),
        production=in_environments("environment", config.production_environments),
        deployments_per_day=pl.col("successful_deployments") / span_days,
    )
    production = pl.col("production")
    frame = frame.with_columns(
        change_failure_rate=pl.when(production & (pl.col("deployments") > 0)).then(
            pl.col("failed_deployments") / pl.col("deployments")
        ),
        rework_rate=pl.when(production & (pl.col("deployments") > 0)).then(
            pl.col("rework_deployments") / pl.col("deployments")
        ),
        lead_time_median_hours=pl.when(production).then(pl.col("lead_time_median_hours")),
        recovery_median_hours=pl.when(production).then(pl.col("recovery_median_hours")),
    )
    return _bands(frame)


def run(sources: Sources, period: Period, config: AnalyticsConfig) -> pl.DataFrame:
    if not sources.has("deployments"):
        return empty(SCHEMA)
    deployments = read_deployments(sources, config, period)
    incidents = link_incidents(read_incidents(sources, period), deployments, config)
    changed = changes(deployments, incidents)
    names = _names(deployments, incidents.filter(pl.col("production")))
    calendar = _Calendar.of(period)
    facts = _facts(deployments, changed, incidents, names, calendar, period)
    frames = [_level(level, facts, names, calendar, period, config) for level in LEVELS]
    order = {level: n for n, level in enumerate(LEVELS)}
    frame = pl.concat([conform(f, SCHEMA) for f in frames], how="vertical")
    if frame.is_empty():
        return empty(SCHEMA)
    return frame.sort(
        pl.col("level").replace_strict(order, return_dtype=pl.Int32),
        "service_namespace",
        "service_name",
        "environment",
        pl.col("bucket") != "period",
        "bucket_start",
        nulls_last=False,
    )


JOB = Job("dora", "DORA metrics per workload, team and environment, weekly and for the period, with bands", run)
