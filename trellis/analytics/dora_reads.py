"""DORA's reading: deployments and incidents from DuckDB, names as numbers (``dora`` computes from them).

DuckDB gives each name a number (``hash``), so that Polars groups and joins integers; a salt is tried
after another until every number stands for one name. Only production deployments reach Polars; the
counts across every environment come from one DuckDB grouping per workload and week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from trellis.analytics.frames import empty, week_start
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.sources import Period, Sources

KEYS = ["service_namespace", "service_name", "environment"]
"""A workload's names."""

INCIDENT_COLUMNS = [
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
DAY_NS = 86_400 * 1_000_000_000
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


def epoch_ns(moment: datetime) -> int:
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
        day = f"CASE WHEN t >= ? AND t < ? THEN (t - ?) // {DAY_NS} END"
        params = [epoch_ns(period.start), epoch_ns(period.end), epoch_ns(week_start(period.start))]
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
        return empty({c: pl.String() for c in INCIDENT_COLUMNS}).with_columns(
            pl.col("opened_at", "resolved_at").cast(pl.Datetime("ns"))
        )
    query = f"SELECT {', '.join(INCIDENT_COLUMNS)} FROM incidents WHERE epoch_ns(opened_at) < ?"
    frame = sources.sql(query, [epoch_ns(period.end)])
    return frame.with_columns(pl.col("opened_at", "resolved_at").cast(pl.Datetime("ns")))


def numbered(frame: pl.DataFrame, workloads: pl.DataFrame, number: str, nulls_equal: bool = False) -> pl.DataFrame:
    """``frame`` with the ``number`` its names have (null where no finished deployment has those names)."""
    names = _NUMBERS[number]
    known = workloads.select(number, *names).unique(subset=names)
    return frame.join(known, on=names, how="left", nulls_equal=nulls_equal)
