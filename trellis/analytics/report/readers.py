"""Where a report reads the analytics tables: a running collector's API, or a database file.

Both readers first make sure every job's table was computed for the report's period. Through a collector,
jobs whose table holds another period (or nothing, or does not exist) are run with ``POST /api/v1/analyze``,
which replaces only the derived ``analytics_*`` tables. On a file, opened read-only (a snapshot, or the
store while no collector runs), those jobs run in memory and their results shadow the stored tables for
this connection only: a report never writes to the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.registry import JOBS
from trellis.analytics.run_sources import RunSources
from trellis.analytics.sources import Period
from trellis.collector import read_only_file, run_query

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def stale_jobs(tables: set[str], periods: pl.DataFrame, period: Period, include_empty: bool = True) -> list[str]:
    """Jobs whose table is missing or computed for another period (``periods``: table, n, s, e); an empty
    table cannot tell its period, so it counts as stale too unless ``include_empty`` is false."""
    found = {row[0]: row[1:] for row in periods.iter_rows()}
    stale = []
    for name, job in JOBS.items():
        if job.table not in tables or job.table not in found:
            stale.append(name)
            continue
        rows, start, end = found[job.table]
        if (rows and (start != period.start or end != period.end)) or (not rows and include_empty):
            stale.append(name)
    return stale


def periods_query(tables: set[str]) -> str | None:
    parts = [
        f"SELECT '{job.table}' AS table_name, count(*) AS n, min(period_start) AS s, max(period_end) AS e "
        f"FROM {job.table}"
        for job in JOBS.values()
        if job.table in tables
    ]
    return " UNION ALL ".join(parts) if parts else None


READ_SECONDS = 600.0
"""Longest one of the report's own statements may run on a file."""
TABLES_QUERY = "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views() WHERE NOT internal"


class _TableReader:
    """What both readers share: which tables exist, and which jobs' tables do not hold a period."""

    def sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        raise NotImplementedError

    def tables(self) -> set[str]:
        return set(self.sql(TABLES_QUERY)["table_name"].to_list())

    def stale(self, period: Period, include_empty: bool = True) -> list[str]:
        tables = self.tables()
        query = periods_query(tables)
        periods = self.sql(query) if query else pl.DataFrame()
        return stale_jobs(tables, periods, period, include_empty)


class ApiReader(_TableReader):
    """Reads through a running collector: ``/api/v1/query`` for tables, ``/api/v1/analyze`` to compute them."""

    def __init__(self, client: Any, row_limit: int = 100_000) -> None:
        self.client = client
        self.row_limit = row_limit
        self.source = f"collector at {client.url}"

    def sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        frame: pl.DataFrame = self.client.sql(query, limit=self.row_limit, params=params)
        return frame

    def prepare(self, period: Period, progress: Progress = _quiet) -> list[str]:
        """Run the jobs whose tables do not hold the period; returns their names."""
        stale = self.stale(period)
        if stale:
            progress(f"analyzing {', '.join(stale)} for the period (collector)")
            self.client.request(
                "POST",
                "/api/v1/analyze",
                json={"from": period.start.isoformat(), "to": period.end.isoformat(), "jobs": stale},
            )
        return stale

    def close(self) -> None:
        self.client.close()


class FileReader(_TableReader):
    """Reads a database file read-only; jobs whose table does not hold the period run in memory."""

    def __init__(self, path: Path, config: AnalyticsConfig, row_limit: int = 10_000_000) -> None:
        self.path = path
        self.config = config
        self.row_limit = row_limit
        self.source = f"file {path}"
        self.con = read_only_file(path)
        self._frames: dict[str, pl.DataFrame] = {}

    def sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """One statement through the same guard as every reader (the report's own SQL)."""
        result = run_query(self.con, query, self.row_limit, READ_SECONDS, params)
        return pl.from_arrow(result.table)  # type: ignore[return-value]

    def prepare(self, period: Period, progress: Progress = _quiet) -> list[str]:
        stale = self.stale(period)
        with RunSources(self.con) as sources:
            for name in stale:
                progress(f"analyzing {name} for the period (in memory; {self.path} is not changed)")
                job = JOBS[name]
                frame = job.run(sources, period, self.config).with_columns(
                    pl.lit(period.start).cast(pl.Datetime("us")).alias("period_start"),
                    pl.lit(period.end).cast(pl.Datetime("us")).alias("period_end"),
                )
                self._frames[job.table] = frame
                self.con.register(job.table, frame)
        return stale

    def close(self) -> None:
        self.con.close()


__all__ = ["ApiReader", "FileReader", "stale_jobs"]
