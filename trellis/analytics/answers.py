"""A job's answer for the period, teams and environments asked: computed for the request, written nowhere.

The ``analytics_<job>`` tables are the scheduled run's output, which every reader shares; an answer is
computed on a connection of its own (``slices.sliced_cursor``) and returned, so what one person asks
changes nothing another sees. At most ``RUNNING`` answers are computed at once; more wait up to
``WAIT_SECONDS`` for a turn, then get "busy".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.registry import JOBS, UnknownJob
from trellis.analytics.slices import UNSLICED, Slice, narrow, sliced_cursor
from trellis.analytics.sources import Period, Sources

RUNNING = 2
"""Answers computed at once (each on one of the two cores' worth of DuckDB and Polars work)."""
WAIT_SECONDS = 30.0


class Busy(RuntimeError):
    """Every slot stayed taken for WAIT_SECONDS."""


@dataclass
class Answer:
    job: str
    period: Period
    slice_: Slice
    frame: pl.DataFrame
    seconds: float

    @property
    def covers(self) -> str:
        """What the figures cover, in a sentence a page can show beside them."""
        who = []
        if self.slice_.teams:
            who.append("teams " + ", ".join(self.slice_.teams))
        if self.slice_.environments:
            who.append("environments " + ", ".join(self.slice_.environments))
        span = f"{_moment(self.period.start)} to {_moment(self.period.end)} (UTC, the end excluded)"
        text = f"{span}; " + (" and ".join(who) if who else "every team and environment")
        if who and JOBS[self.job].reads_catalog:
            text += f"; {UNSLICED}"
        return text


def _moment(value: datetime) -> str:
    return f"{value:%Y-%m-%d}" if value.hour == value.minute == value.second == 0 else f"{value:%Y-%m-%d %H:%M}"


class Answers:
    """Computes answers on connections to ``con``'s database, RUNNING at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, config: AnalyticsConfig) -> None:
        self.con, self.config = con, config
        self._slots = threading.BoundedSemaphore(RUNNING)

    def answer(self, job: str, period: Period, slice_: Slice) -> Answer:
        if job not in JOBS:
            raise UnknownJob(f"unknown job {job!r}; the jobs are {', '.join(JOBS)}")
        if not self._slots.acquire(timeout=WAIT_SECONDS):
            raise Busy(f"{RUNNING} answers are being computed; retry in a moment")
        try:
            started = time.perf_counter()
            cursor = sliced_cursor(self.con, slice_)
            try:
                sources = Sources(cursor, prepare=lambda other: narrow(other, slice_))
                frame = JOBS[job].run(sources, period, self.config)
            finally:
                cursor.close()
            return Answer(job, period, slice_, frame, time.perf_counter() - started)
        finally:
            self._slots.release()


__all__ = ["RUNNING", "Answer", "Answers", "Busy"]
