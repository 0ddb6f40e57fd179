"""Running the jobs inside the collector: on demand and on a schedule, one run at a time, on its own cursor."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import duckdb

from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.prices import load_price_table
from trellis.analytics.registry import select_jobs
from trellis.analytics.runner import JobResult, run_jobs
from trellis.analytics.settings import AnalyticsSettings
from trellis.analytics.sources import Period

log = logging.getLogger("trellis.analytics")


def config_from_settings(settings: AnalyticsSettings) -> AnalyticsConfig:
    """The jobs' configuration from the collector's settings (reads the price table file when one is set)."""
    prefixes = tuple(p.strip() for p in settings.production_environments.split(",") if p.strip())
    currency, prices = "USD", dict[str, float]()
    if settings.price_table is not None:
        currency, prices = load_price_table(settings.price_table)
    return AnalyticsConfig(
        production_environments=prefixes,
        dead_after_days=settings.analytics_dead_after_days,
        prices=prices,
        currency=currency,
    )


def parse_moment(value: str | date | datetime) -> datetime:
    """A date (midnight UTC) or a datetime (converted to UTC) as a naive UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def default_period(window_days: int, now: datetime | None = None) -> Period:
    """The last ``window_days`` whole days up to the end of today (UTC)."""
    moment = now or datetime.now(UTC).replace(tzinfo=None)
    end = datetime(moment.year, moment.month, moment.day) + timedelta(days=1)
    return Period(end - timedelta(days=window_days), end)


def period_from(start: str | date | datetime | None, end: str | date | datetime | None, window_days: int) -> Period:
    """The period [start, end): given bounds, or ``window_days`` back from the given or the default end."""
    stop = parse_moment(end) if end is not None else default_period(window_days).end
    begin = parse_moment(start) if start is not None else stop - timedelta(days=window_days)
    return Period(begin, stop)


class AnalyticsService:
    """Runs jobs on one DuckDB cursor; a lock keeps the scheduled and the requested runs apart."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, config: AnalyticsConfig, window_days: int = 30) -> None:
        self.cursor, self.config, self.window_days = cursor, config, window_days
        self._lock = threading.Lock()
        self.last_run: list[JobResult] = []

    def run(
        self,
        period: Period,
        names: list[str] | None = None,
        progress: Callable[[JobResult], None] | None = None,
    ) -> list[JobResult]:
        jobs = select_jobs(names)
        with self._lock:
            results = run_jobs(self.cursor, jobs, period, self.config, progress)
        self.last_run = results
        return results

    def scheduled_run(self) -> None:
        """One scheduled run: every job over the default window (``Every`` calls it)."""
        results = self.run(default_period(self.window_days))
        log.info("analytics: %s", ", ".join(f"{r.job} {r.rows} rows in {r.seconds:.2f} s" for r in results))
