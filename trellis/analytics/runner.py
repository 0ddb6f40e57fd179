"""Running jobs where the data is, and keeping their results in ``analytics_<job>`` tables."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from trellis.analytics.job import AnalyticsConfig, Job
from trellis.analytics.run_sources import RunSources
from trellis.analytics.sources import Period, Sources


@dataclass
class JobResult:
    job: str
    rows: int
    seconds: float


def run_job(
    con: duckdb.DuckDBPyConnection, job: Job, period: Period, config: AnalyticsConfig, sources: Sources | None = None
) -> JobResult:
    """Run one job and replace its result table in one transaction (a rerun gives the same table).

    ``sources`` (over ``con``): those of the run the job is part of, so that it shares work with the run's
    other jobs (``RunSources``); by default the job reads on its own."""
    started = time.perf_counter()
    frame = job.run(sources or Sources(con), period, config)
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
    """Run jobs one after the other, reporting each as it finishes; they share one ``RunSources``, so that
    utilization and cost go over the period's metric points once between them (what jobs share is released
    after the last job that ``shares`` it)."""
    last = {kind: index for index, job in enumerate(jobs) for kind in job.shares}
    results = []
    with RunSources(con) as sources:
        for index, job in enumerate(jobs):
            result = run_job(con, job, period, config, sources)
            for kind in job.shares:
                if last[kind] == index:
                    sources.release(kind)
            results.append(result)
            if progress:
                progress(result)
    return results
