"""DORA: deployment frequency, lead time, change failure rate, recovery time and rework rate.

Per workload, team and environment, as weekly series and for the whole period, with the
performance band of each metric by the 2023 benchmarks Apache DevLake ships. docs/analytics.md
gives every definition; the constants below are its thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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

_INCIDENT_COLUMNS = [
    "incident_id",
    "service_name",
    "service_namespace",
    "environment",
    "opened_at",
    "resolved_at",
    "caused_by_deployment_id",
]
_NUMBERS: dict[str, list[str]] = {
    "workload": KEYS,
    "series": ["service_name", "environment"],
    "service": ["service_name"],
}
"""The numbers DuckDB gives the names (``hash``): a workload; a service in an environment, what rework, linking
and recovery follow; a service, what an incident without an environment is linked by."""
_SALTS = 4
"""Salts of those hashes tried in turn until every number stands for one name (two of a few thousand 64-bit
hashes collide about once in 10^13 runs)."""
_DAY_NS = 86_400 * 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Deployments:
    """The finished deployments as the job reads them: names become numbers in DuckDB (``_NUMBERS``), so
    Polars groups and joins integers, and only a row per workload leaves the database with its names.

    - ``production``: the deployments to production environments, sorted by ``finished_at``, the ones lead
      time, failure rate, rework and recovery look at, with their ``lead_time`` in nanoseconds;
    - ``ids``: their ``deployment_id``s, in the order read (a deployment's ``row``): a frame with a million
      strings in it is much slower to sort;
    - ``workloads``: every workload's numbers and names;
    - ``weekly``: per workload and week of the period (``week``, counted from the Monday its first week
      starts on), the deployments and the successful ones, of every environment, and the days with a
      successful one (``days``: bit 0 is Monday): all the rest needs of them;
    - ``causes``: the deployments incidents name as their cause, with their names.
    """

    production: pl.DataFrame
    ids: pl.Series
    workloads: pl.DataFrame
    weekly: pl.DataFrame
    causes: pl.DataFrame


def _epoch_ns(moment: datetime) -> int:
    """A moment (naive: UTC) in nanoseconds since the epoch, as DuckDB's ``epoch_ns`` counts."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1) * 1000


def _numbers(salt: int) -> str:
    """The SQL of the ``_NUMBERS`` columns: 64-bit hashes of the names (NULL hashes as a value of its own)."""
    return ", ".join(f"hash({', '.join(names)}, {salt}) AS {number}" for number, names in _NUMBERS.items())


def _read_workloads(sources: Sources, period: Period | None, salt: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every workload with deployments (a row each, with its names) and its deployments per week of the
    period, in one grouping: the weeks' rows carry the numbers alone. Weeks, not days: a fifth as many groups
    is most of the grouping's cost, and a bit per day keeps which days had a successful deployment."""
    day, params = "NULL::BIGINT", []
    if period is not None:
        day = f"CASE WHEN t >= ? AND t < ? THEN (t - ?) // {_DAY_NS} END"
        params = [_epoch_ns(period.start), _epoch_ns(period.end), _epoch_ns(week_start(period.start))]
    names = ", ".join(f"CASE WHEN grouping(week) = 1 THEN {name} END AS {name}" for name in KEYS)
    frame = sources.sql(
        f"""
        SELECT grouping(week) = 1 AS workload_row, {_numbers(salt)}, {names}, week,
               count(*) AS deployments, count_if(succeeded) AS successful,
               bit_or(CASE WHEN succeeded THEN 1 << (day % 7) ELSE 0 END) AS days
        FROM (
            SELECT {", ".join(KEYS)}, status = 'succeeded' AS succeeded, {day} AS day, {day} // 7 AS week
            FROM (SELECT *, epoch_ns(finished_at) AS t FROM deployments WHERE finished_at IS NOT NULL)
        )
        GROUP BY GROUPING SETS (({", ".join(KEYS)}, week), ({", ".join(KEYS)}))
        """,
        params + params,
    )
    workloads = frame.filter(pl.col("workload_row")).select(*_NUMBERS, *KEYS)
    weekly = frame.filter(~pl.col("workload_row") & pl.col("week").is_not_null())
    return workloads, weekly.select("workload", "week", "deployments", "successful", pl.col("days").cast(pl.Int64))


def _one_name_each(workloads: pl.DataFrame) -> bool:
    """Whether every number stands for one name (no two hashes collided)."""
    return all(
        workloads.select(number, *names).unique().height == workloads[number].n_unique()
        for number, names in _NUMBERS.items()
    )


def _read_production(sources: Sources, config: AnalyticsConfig, salt: int) -> tuple[pl.DataFrame, pl.Series]:
    """The finished deployments to production environments (as ``in_environments`` tells them), sorted by
    ``finished_at``, with the lead time of the successful ones; and their ids, in the order read."""
    prefixes = [p for p in config.production_environments if p]
    production = " OR ".join("starts_with(environment, ?)" for _ in prefixes) or "false"
    frame = sources.sql(
        f"""
        SELECT deployment_id, {_numbers(salt)}, epoch_ns(finished_at) AS finished_at,
               CASE WHEN status = 'succeeded' AND first_commit_at <= finished_at
                    THEN epoch_ns(finished_at) - epoch_ns(first_commit_at) END AS lead_time,
               coalesce(status = 'succeeded', false) AS succeeded, coalesce(status = 'failed', false) AS failed
        FROM deployments WHERE finished_at IS NOT NULL AND ({production})
        """,
        prefixes,
    )
    ordered = (
        frame.drop("deployment_id")
        .with_row_index("row")
        .with_columns(pl.col("finished_at").cast(pl.Datetime("ns")))
        .sort("finished_at")
    )
    return ordered, frame["deployment_id"]


def _read_causes(sources: Sources) -> pl.DataFrame:
    """The finished deployments that incidents name as their cause."""
    columns = ", ".join(["deployment_id", *KEYS])
    if not sources.has("incidents"):
        return sources.sql(f"SELECT {columns} FROM deployments WHERE false")
    return sources.sql(
        f"""
        SELECT {columns}
        FROM (SELECT DISTINCT caused_by_deployment_id AS deployment_id FROM incidents)
        JOIN deployments USING (deployment_id)
        WHERE finished_at IS NOT NULL
        """
    )


def read_deployments(sources: Sources, config: AnalyticsConfig, period: Period | None = None) -> Deployments:
    """Every finished deployment (see ``Deployments``; ``weekly`` is empty without a period)."""
    for salt in range(_SALTS):
        workloads, weekly = _read_workloads(sources, period, salt)
        if _one_name_each(workloads):
            production, ids = _read_production(sources, config, salt)
            return Deployments(production, ids, workloads, weekly, _read_causes(sources))
    raise RuntimeError(f"the names of the deployments' workloads hashed to the same number {_SALTS} times")


def read_incidents(sources: Sources, period: Period) -> pl.DataFrame:
    """The incidents opened before the period's end. Read with SQL: a lazy scan's first use in a process
    imports pandas, a third of a second."""
    if not sources.has("incidents"):
        return empty({c: pl.String() for c in _INCIDENT_COLUMNS}).with_columns(
            pl.col("opened_at", "resolved_at").cast(pl.Datetime("ns"))
        )
    query = f"SELECT {', '.join(_INCIDENT_COLUMNS)} FROM incidents WHERE epoch_ns(opened_at) < ?"
    frame = sources.sql(query, [_epoch_ns(period.end)])
    return frame.with_columns(pl.col("opened_at", "resolved_at").cast(pl.Datetime("ns")))


def _numbered(frame: pl.DataFrame, workloads: pl.DataFrame, number: str, nulls_equal: bool = False) -> pl.DataFrame:
    """``frame`` with the ``number`` its names have (null where no finished deployment has those names)."""
    names = _NUMBERS[number]
    known = workloads.select(number, *names).unique(subset=names)
    return frame.join(known, on=names, how="left", nulls_equal=nulls_equal)


def link_incidents(incidents: pl.DataFrame, deployments: Deployments, config: AnalyticsConfig) -> pl.DataFrame:
    """Each incident with the deployment it is linked to and the workload and environment it counts for.

    An incident names its cause (``caused_by_deployment_id``), or it is linked to the latest successful
    production deployment of its workload (in its environment, when it names one) that finished at or
    before it opened.
    """
    explicit = incidents.filter(pl.col("caused_by_deployment_id").is_not_null()).join(
        deployments.causes.select(
            linked_deployment_id="deployment_id",
            linked_environment="environment",
            linked_service="service_name",
            linked_namespace="service_namespace",
        ),
        left_on="caused_by_deployment_id",
        right_on="linked_deployment_id",
        how="left",
        coalesce=False,
    )
    explicit = explicit.with_columns(linked_deployment_id=pl.col("caused_by_deployment_id")).drop(
        "caused_by_deployment_id"
    )
    candidates = deployments.production.filter(pl.col("succeeded")).select(
        "workload", "series", "service", "finished_at", "row"
    )
    implicit = incidents.filter(pl.col("caused_by_deployment_id").is_null()).drop("caused_by_deployment_id")
    by_env = _numbered(implicit.filter(pl.col("environment").is_not_null()), deployments.workloads, "series")
    no_env = _numbered(implicit.filter(pl.col("environment").is_null()), deployments.workloads, "service")
    names = deployments.workloads.select(
        "workload",
        linked_environment="environment",
        linked_service="service_name",
        linked_namespace="service_namespace",
    )
    linked = [explicit]
    for frame, by, other in ((by_env, "series", "service"), (no_env, "service", "series")):
        found = frame.sort("opened_at").join_asof(
            candidates.drop(other), left_on="opened_at", right_on="finished_at", by=by, check_sortedness=False
        )
        found = found.with_columns(linked_deployment_id=deployments.ids.gather(found["row"]))
        linked.append(found.join(names, on="workload", how="left"))
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


def _changes(deployments: Deployments, incidents: pl.DataFrame) -> pl.DataFrame:
    """The production deployments with whether each is a failed change (failed, or an incident is linked to
    it) and whether it is rework: a successful deployment right after a failed one of the same service and
    environment, or made while a production incident of that service and environment was open."""
    linked = deployments.ids.is_in(incidents["linked_deployment_id"].drop_nulls().implode())
    during = _open_until(deployments.production, incidents.filter(pl.col("production")), deployments.workloads)
    return (
        during.with_columns(linked=linked.gather(during["row"]))
        .with_columns(
            failed_change=pl.col("failed") | pl.col("linked"),
            rework=pl.col("succeeded")
            & (
                pl.col("failed").shift(1).over("series").fill_null(False)
                | (pl.col("until") > pl.col("finished_at")).fill_null(False)
            ),
        )
        .drop("until")
    )


def _open_until(deployments: pl.DataFrame, incidents: pl.DataFrame, workloads: pl.DataFrame) -> pl.DataFrame:
    """``deployments`` (sorted by ``finished_at``) with ``until``: the latest resolution (never: the end of
    time) among the incidents of their service and environment opened at or before them. A deployment was made
    while one was open when that is later than it.

    ``join_asof`` finds the latest incident opened so far without pairing every deployment with every
    incident, and each incident carries the latest resolution among those opened up to it. Null names match
    each other, as in a join with ``nulls_equal``."""
    never = pl.lit(2**63 - 1, pl.Int64).cast(pl.Datetime("ns"))
    windows = (
        _numbered(incidents.filter(pl.col("opened_at").is_not_null()), workloads, "series", nulls_equal=True)
        .filter(pl.col("series").is_not_null())
        .select("series", "opened_at", until=pl.col("resolved_at").cast(pl.Datetime("ns")).fill_null(never))
        .sort("opened_at")
        .with_columns(until=pl.col("until").cum_max().over("series"))
    )
    found = deployments.join_asof(
        windows, left_on="finished_at", right_on="opened_at", by="series", check_sortedness=False
    )
    return found.drop("opened_at")


def _recoveries_of_deployments(changes: pl.DataFrame, workloads: pl.DataFrame) -> pl.DataFrame:
    """The failed production deployments no incident is linked to, and how long each took to recover: until
    the next successful deployment of its service and environment (null: not yet; always, for a deployment
    without a service name, which names no service to follow)."""
    unnamed = workloads.filter(pl.col("service_name").is_null())["series"].implode()
    failed = changes.filter(pl.col("failed") & ~pl.col("linked")).with_columns(
        series=pl.when(~pl.col("series").is_in(unnamed)).then(pl.col("series"))
    )
    successes = changes.filter(pl.col("succeeded")).select("series", recovered_at="finished_at")
    return failed.join_asof(
        successes,
        left_on="finished_at",
        right_on="recovered_at",
        by="series",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    ).select("workload", at="finished_at", recovery=_nanoseconds(pl.col("recovered_at") - pl.col("finished_at")))


def _nanoseconds(duration: pl.Expr) -> pl.Expr:
    return duration.dt.total_nanoseconds()


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
        return (pl.col(column).dt.epoch("ns") - _epoch_ns(self.base)) // (7 * _DAY_NS)

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
            production.select("w", at="opened_at", recovery=_nanoseconds(pl.col("resolved_at") - pl.col("opened_at"))),
            _recoveries_of_deployments(changes, deployments.workloads)
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
    changes = _changes(deployments, incidents)
    names = _names(deployments, incidents.filter(pl.col("production")))
    calendar = _Calendar.of(period)
    facts = _facts(deployments, changes, incidents, names, calendar, period)
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
