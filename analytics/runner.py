"""Running jobs where the data is, and keeping their results in ``analytics_<job>`` tables."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from analytics.job import AnalyticsConfig, Job
from analytics.sources import Period, Sources


@dataclass
class JobResult:
    job: str
    rows: int
    seconds: float


def run_job(con: duckdb.DuckDBPyConnection, job: Job, period: Period, config: AnalyticsConfig) -> JobResult:
    """Run one job and replace its result table in one transaction (a rerun gives the same table)."""
    started = time.perf_counter()
    frame = job.run(Sources(con), period, config)
    frame = frame.with_columns(pl.lit(period.start).alias("period_start"), pl.lit(period.end).alias("period_end"))
    _replace_table(con, job.table, frame)
    return JobResult(job.name, frame.height, time.perf_counter() - started)


def _replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    arrow = frame.to_arrow()
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("job_result", arrow)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM job_result")
        con.unregister("job_result")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def run_jobs(
    con: duckdb.DuckDBPyConnection,
    jobs: list[Job],
    period: Period,
    config: AnalyticsConfig,
    progress: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run jobs one after the other, reporting each as it finishes."""
    results = []
    for job in jobs:
        result = run_job(con, job, period, config)
        results.append(result)
        if progress:
            progress(result)
    return results
