"""DORA: deployment frequency, lead time, change failure rate, recovery time and rework rate.

Per workload, team and environment, as weekly series and for the whole period, with the
performance band of each metric by the 2023 benchmarks Apache DevLake ships. docs/analytics.md
gives every definition; the constants below are its thresholds.
"""

from __future__ import annotations

import polars as pl

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
    months,
    utc_naive,
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
KEYS = ["service_namespace", "service_name", "environment"]

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

_DEPLOYMENT_COLUMNS = [
    "deployment_id",
    "status",
    "environment",
    "service_name",
    "service_namespace",
    "finished_at",
    "first_commit_at",
]
_INCIDENT_COLUMNS = [
    "incident_id",
    "service_name",
    "service_namespace",
    "environment",
    "opened_at",
    "resolved_at",
    "caused_by_deployment_id",
]


def read_deployments(sources: Sources, config: AnalyticsConfig) -> pl.DataFrame:
    """Every finished deployment, with whether its environment is production."""
    columns = ", ".join(_DEPLOYMENT_COLUMNS)
    # Read in one piece: a lazy scan of a million rows costs twice as much as the SQL.
    frame = sources.sql(f"SELECT {columns} FROM deployments WHERE finished_at IS NOT NULL").lazy()
    return (
        utc_naive(frame, ["finished_at", "first_commit_at"])
        .with_columns(
            production=in_environments("environment", config.production_environments),
            succeeded=pl.col("status") == "succeeded",
        )
        .sort("finished_at")
        .collect()
    )


def link_incidents(incidents: pl.DataFrame, deployments: pl.DataFrame, config: AnalyticsConfig) -> pl.DataFrame:
    """Each incident with the deployment it is linked to and the workload and environment it counts for.

    An incident names its cause (``caused_by_deployment_id``), or it is linked to the latest successful
    production deployment of its workload (in its environment, when it names one) that finished at or
    before it opened.
    """
    target = deployments.select(
        linked_deployment_id="deployment_id",
        linked_environment="environment",
        linked_service="service_name",
        linked_namespace="service_namespace",
        finished_at="finished_at",
    )
    explicit = incidents.filter(pl.col("caused_by_deployment_id").is_not_null()).join(
        target.drop("finished_at"),
        left_on="caused_by_deployment_id",
        right_on="linked_deployment_id",
        how="left",
        coalesce=False,
    )
    explicit = explicit.with_columns(linked_deployment_id=pl.col("caused_by_deployment_id")).drop(
        "caused_by_deployment_id"
    )
    candidates = (
        deployments.filter(pl.col("succeeded") & pl.col("production"))
        .select(
            linked_deployment_id="deployment_id",
            linked_environment="environment",
            linked_service="service_name",
            linked_namespace="service_namespace",
            finished_at="finished_at",
            service_name="service_name",
            environment="environment",
        )
        .sort("finished_at")
    )
    implicit = incidents.filter(pl.col("caused_by_deployment_id").is_null()).drop("caused_by_deployment_id")
    by_env = implicit.filter(pl.col("environment").is_not_null()).sort("opened_at")
    no_env = implicit.filter(pl.col("environment").is_null()).sort("opened_at")
    linked = [
        explicit,
        by_env.join_asof(
            candidates,
            left_on="opened_at",
            right_on="finished_at",
            by=["service_name", "environment"],
            check_sortedness=False,
        ).drop("finished_at"),
        no_env.join_asof(
            candidates.drop("environment"),
            left_on="opened_at",
            right_on="finished_at",
            by="service_name",
            check_sortedness=False,
        ).drop("finished_at"),
    ]
    columns = [
        "incident_id",
        "service_name",
        "service_namespace",
        "environment",
        "opened_at",
        "resolved_at",
        "linked_deployment_id",
        "linked_environment",
        "linked_service",
        "linked_namespace",
    ]
    frame = pl.concat([f.select(columns) for f in linked], how="vertical_relaxed")
    return frame.with_columns(
        service_name=pl.coalesce("service_name", "linked_service"),
        service_namespace=pl.coalesce("service_namespace", "linked_namespace"),
        environment=pl.coalesce("environment", "linked_environment"),
    ).with_columns(production=in_environments("environment", config.production_environments))


def _rework(deployments: pl.DataFrame, incidents: pl.DataFrame) -> pl.DataFrame:
    """Per deployment, whether it is rework: a successful deployment right after a failed one of the same
    workload and environment, or made while an incident of that workload and environment was open."""
    ordered = deployments.sort("finished_at").with_columns(
        previous_failed=(pl.col("status") == "failed").shift(1).over(["service_name", "environment"])
    )
    open_ids = _during_open_incidents(ordered.filter(pl.col("succeeded")), incidents)
    return ordered.with_columns(
        rework=pl.col("succeeded")
        & (pl.col("previous_failed").fill_null(False) | pl.col("deployment_id").is_in(open_ids.implode()))
    ).drop("previous_failed")


def _during_open_incidents(deployments: pl.DataFrame, incidents: pl.DataFrame) -> pl.Series:
    """The ids of the deployments (sorted by ``finished_at``) made while an incident of their workload and
    environment was open: opened at or before, and unresolved or resolved after.

    Such an incident exists when the latest resolution (never: the end of time) among the incidents opened so
    far is later than the deployment; ``join_asof`` finds it without pairing every deployment with every
    incident. Null names match each other, as in a join with ``nulls_equal``."""
    keys = ["service_name", "environment"]
    exact = [pl.col(k).fill_null("") for k in keys] + [pl.col(k).is_null().alias(f"{k}_null") for k in keys]
    by = [*keys, *(f"{k}_null" for k in keys)]
    never = pl.lit(2**63 - 1, pl.Int64).cast(pl.Datetime("ns"))
    windows = (
        incidents.filter(pl.col("opened_at").is_not_null())
        .select(*exact, "opened_at", until=pl.col("resolved_at").cast(pl.Datetime("ns")).fill_null(never))
        .sort("opened_at")
        .with_columns(until=pl.col("until").cum_max().over(by))
    )
    found = deployments.select("deployment_id", "finished_at", *exact).join_asof(
        windows, left_on="finished_at", right_on="opened_at", by=by, check_sortedness=False
    )
    return found.filter(pl.col("until") > pl.col("finished_at"))["deployment_id"]


def _recoveries(deployments: pl.DataFrame, incidents: pl.DataFrame) -> pl.DataFrame:
    """Failures and how long each took to recover: an incident from opened to resolved; a failed deployment
    that no incident is linked to, until the next successful deployment of its workload and environment."""
    from_incidents = incidents.filter(pl.col("production")).select(
        *KEYS,
        at=pl.col("opened_at"),
        recovery_hours=hours(pl.col("resolved_at") - pl.col("opened_at")),
    )
    linked = incidents["linked_deployment_id"].drop_nulls()
    failed = deployments.filter(
        pl.col("production") & (pl.col("status") == "failed") & ~pl.col("deployment_id").is_in(linked.to_list())
    ).sort("finished_at")
    successes = (
        deployments.filter(pl.col("succeeded"))
        .select("service_name", "environment", recovered_at="finished_at")
        .sort("recovered_at")
    )
    from_deployments = failed.join_asof(
        successes,
        left_on="finished_at",
        right_on="recovered_at",
        by=["service_name", "environment"],
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    ).select(*KEYS, at=pl.col("finished_at"), recovery_hours=hours(pl.col("recovered_at") - pl.col("finished_at")))
    return pl.concat([from_incidents, from_deployments], how="vertical_relaxed")


def _with_week(frame: pl.DataFrame, column: str, period: Period) -> pl.DataFrame:
    week = pl.max_horizontal(pl.col(column).dt.truncate("1w").cast(TS), pl.lit(period.start).cast(TS))
    return frame.filter(in_period(column, period)).with_columns(bucket_start=week)


def _aggregate(
    deployments: pl.DataFrame, incidents: pl.DataFrame, recoveries: pl.DataFrame, keys: list[str], by: list[str]
) -> pl.DataFrame:
    group = [*keys, *by]
    d = deployments.group_by(group).agg(
        deployments=pl.len(),
        successful_deployments=pl.col("succeeded").sum(),
        deployment_days=pl.col("finished_at").dt.date().filter(pl.col("succeeded")).n_unique(),
        lead_time_changes=pl.col("lead_time_hours").count(),
        lead_time_median_hours=lower_median(pl.col("lead_time_hours")),
        failed_deployments=pl.col("failed_change").sum(),
        rework_deployments=pl.col("rework").sum(),
    )
    i = incidents.group_by(group).agg(incidents=pl.len())
    r = recoveries.group_by(group).agg(
        recoveries=pl.col("recovery_hours").count(),
        unrecovered_failures=pl.col("recovery_hours").null_count(),
        recovery_median_hours=lower_median(pl.col("recovery_hours")),
    )
    return d.join(i, on=group, how="full", coalesce=True, nulls_equal=True).join(
        r, on=group, how="full", coalesce=True, nulls_equal=True
    )


def _frequency(deployments: pl.DataFrame, groups: pl.DataFrame, keys: list[str], period: Period) -> pl.DataFrame:
    """Median deployment days per week and per month, over the whole weeks and months inside the period
    (all the partial ones when none is whole); weeks and months without deployments count as 0."""
    days = deployments.filter(pl.col("succeeded")).select(*keys, day=pl.col("finished_at").dt.date()).unique()
    out = groups
    for name, buckets, unit in (
        ("median_deployment_days_per_week", weeks(period), "1w"),
        ("median_deployment_days_per_month", months(period), "1mo"),
    ):
        chosen = buckets.filter(pl.col("whole")) if buckets["whole"].any() else buckets
        starts = chosen.select(bucket=pl.col("bucket_start").dt.truncate(unit).cast(TS))
        counted = days.with_columns(bucket=pl.col("day").cast(TS).dt.truncate(unit)).group_by([*keys, "bucket"]).len()
        grid = groups.join(starts, how="cross").join(counted, on=[*keys, "bucket"], how="left", nulls_equal=True)
        medians = grid.group_by(keys).agg(lower_median(pl.col("len").fill_null(0)).alias(name))
        out = out.join(medians, on=keys, how="left", nulls_equal=True)
    return out


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


def _level(
    level: str,
    deployments: pl.DataFrame,
    incidents: pl.DataFrame,
    recoveries: pl.DataFrame,
    period: Period,
    config: AnalyticsConfig,
) -> pl.DataFrame:
    keys = LEVELS[level]
    d = _with_week(deployments, "finished_at", period)
    i = _with_week(incidents, "opened_at", period)
    r = _with_week(recoveries, "at", period)
    groups = pl.concat([f.select(keys) for f in (d, i, r)]).unique()
    if groups.is_empty():
        return empty(SCHEMA)
    whole = _aggregate(d, i, r, keys, []).join(groups, on=keys, how="right", nulls_equal=True)
    whole = _frequency(d, whole, keys, period).with_columns(
        bucket=pl.lit("period"), bucket_start=pl.lit(period.start).cast(TS), bucket_end=pl.lit(period.end).cast(TS)
    )
    buckets = weeks(period).select("bucket_start", "bucket_end")
    weekly = (
        groups.join(buckets, how="cross")
        .join(_aggregate(d, i, r, keys, ["bucket_start"]), on=[*keys, "bucket_start"], how="left", nulls_equal=True)
        .with_columns(bucket=pl.lit("week"))
    )
    frame = pl.concat([whole, weekly], how="diagonal_relaxed").with_columns(pl.col(keys).cast(pl.String))
    counts = [
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
    span_days = days_of(pl.col("bucket_end") - pl.col("bucket_start"))
    frame = frame.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts).with_columns(
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
    deployments = read_deployments(sources, config)
    if sources.has("incidents"):
        raw = sources.scan("incidents", window=("opened_at", None, period.end)).select(_INCIDENT_COLUMNS)
        raw_incidents = utc_naive(raw, ["opened_at", "resolved_at"]).collect()
    else:
        raw_incidents = empty({c: pl.String() for c in _INCIDENT_COLUMNS}).with_columns(
            pl.col("opened_at", "resolved_at").cast(pl.Datetime("ns"))
        )
    incidents = link_incidents(raw_incidents, deployments, config)
    linked = incidents["linked_deployment_id"].drop_nulls()
    production = pl.col("production")
    deployments = _rework(deployments, incidents.filter(production)).with_columns(
        failed_change=production & ((pl.col("status") == "failed") | pl.col("deployment_id").is_in(linked.to_list())),
        lead_time_hours=pl.when(
            production & pl.col("succeeded") & (pl.col("first_commit_at") <= pl.col("finished_at"))
        ).then(hours(pl.col("finished_at") - pl.col("first_commit_at"))),
        rework=pl.col("rework") & production,
    )
    recoveries = _recoveries(deployments, incidents)
    production_incidents = incidents.filter(production & pl.col("environment").is_not_null())
    # The levels group and join a million deployments by these names many times: as categoricals, Polars
    # hashes each name once here instead of at every group-by.
    d, i, r = (
        f.with_columns(pl.col(KEYS).cast(pl.Categorical)) for f in (deployments, production_incidents, recoveries)
    )
    frames = [_level(level, d, i, r, period, config) for level in LEVELS]
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
