"""Where a report reads: every job's answer for the report's period, teams and environments, and the store.

``prepare`` asks each job for its answer (``trellis.analytics.answers``): through a running collector
(``POST /api/v1/analytics/{job}``), or computed here on a database file opened read-only. The answers are
held in an in-memory database of the report's own, under the names of the jobs' tables
(``analytics_<job>``), so the sections' SQL reads them as it would read the tables; nothing is written to
the store, and what others see does not change. The few counts the report takes of the store's own tables
(``store_sql``) go to the source.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from trellis.analytics.answers import Answer, Answers
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.registry import JOBS
from trellis.analytics.remote_answers import fetch_answer
from trellis.analytics.slices import Slice
from trellis.analytics.sources import Period
from trellis.collector import Client, read_only_file, run_query

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


READ_SECONDS = 600.0
"""Longest one of the report's own statements may run on a file."""
TABLES_QUERY = "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views() WHERE NOT internal"


class _AnswerReader:
    """What both readers share: the answers in memory, asked once per report."""

    source: str
    row_limit: int

    def __init__(self) -> None:
        self.answers = duckdb.connect(":memory:")
        self.answered: dict[str, Answer] = {}

    def prepare(self, period: Period, slice_: Slice, progress: Progress = _quiet) -> None:
        """Ask every job for its answer; each replaces the one held before."""
        for name, job in JOBS.items():
            progress(f"computing {name} for the period ({self.source})")
            answer = self.answer(name, period, slice_)
            frame = answer.frame.with_columns(
                pl.lit(period.start).cast(pl.Datetime("us")).alias("period_start"),
                pl.lit(period.end).cast(pl.Datetime("us")).alias("period_end"),
            )
            self.answers.register(job.table, frame.to_arrow())
            self.answered[name] = answer

    def answer(self, job: str, period: Period, slice_: Slice) -> Answer:
        raise NotImplementedError

    def sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """One of the report's statements over the answers."""
        table = self.answers.sql(query, params=params or {}).to_arrow_table()
        return pl.from_arrow(table)  # type: ignore[return-value]

    def store_sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        raise NotImplementedError

    def tables(self) -> set[str]:
        """The answers' tables and the store's."""
        answered = {JOBS[name].table for name in self.answered}
        return answered | set(self.store_sql(TABLES_QUERY)["table_name"].to_list())

    def close(self) -> None:
        self.answers.close()


class ApiReader(_AnswerReader):
    """Reads through a running collector: answers from ``/api/v1/analytics/{job}``, counts from ``/api/v1/query``."""

    def __init__(self, client: Client, row_limit: int = 100_000) -> None:
        super().__init__()
        self.client = client
        self.row_limit = row_limit
        self.source = f"collector at {client.url}"

    def answer(self, job: str, period: Period, slice_: Slice) -> Answer:
        return fetch_answer(self.client, job, period, slice_)

    def store_sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        return self.client.sql(query, limit=self.row_limit, params=params)

    def close(self) -> None:
        super().close()
        self.client.close()


class FileReader(_AnswerReader):
    """Reads a database file read-only and computes the answers here."""

    def __init__(self, path: Path, config: AnalyticsConfig, row_limit: int = 10_000_000) -> None:
        super().__init__()
        self.path = path
        self.row_limit = row_limit
        self.source = f"file {path}"
        self.con = read_only_file(path)
        self._answers = Answers(self.con, config)

    def answer(self, job: str, period: Period, slice_: Slice) -> Answer:
        return self._answers.answer(job, period, slice_)

    def store_sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """One statement through the same guard as every reader."""
        result = run_query(self.con, query, self.row_limit, READ_SECONDS, params)
        return pl.from_arrow(result.table)  # type: ignore[return-value]

    def close(self) -> None:
        super().close()
        self.con.close()


__all__ = ["ApiReader", "FileReader"]
