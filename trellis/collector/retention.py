"""How long the collector keeps raw signals, and the sweeps that remove what is older.

Each signal has its own number of days (``--retention-metrics-days``, ``--retention-logs-days``,
``--retention-traces-days``; 0 keeps everything). A row's age is its time: a metric point's ``time``
(else its ``start_time``), a log record's ``time`` (else ``observed_time``), a span's ``end_time``
(else ``start_time``); a row with none is kept. Deployments, incidents and the catalog are kept: they
are small and they are the history DORA and the audit need.

A sweep removes a table's expired rows a day (UTC) at a time, oldest first, each day in a transaction of
its own, beside ingest (appends and deletes of old rows do not conflict). DuckDB reuses the space of
removed rows after its next checkpoint, so the file stops growing once retention applies; it does not
shrink. With an archive (``--archive-dir``, ``trellis.collector.archive``), each day is first written
there, in the transaction that deletes it, and only whole days expire: the cutoff is the start of its
day, so a day is archived once, as one part, when the last of it has expired.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field

from trellis.collector.archive import Archive, ArchiveFailed
from trellis.collector.schema import stored_table

log = logging.getLogger("trellis.retention")

METRIC_TABLES = (
    "otel_metrics_gauge",
    "otel_metrics_sum",
    "otel_metrics_histogram",
    "otel_metrics_exponential_histogram",
    "otel_metrics_summary",
)
AGE = {
    **dict.fromkeys(METRIC_TABLES, "coalesce(time, start_time)"),
    "otel_logs": "coalesce(time, observed_time)",
    "otel_traces": "coalesce(end_time, start_time)",
}
"""Each signal table and the expression that dates its rows."""

SIGNAL_OF = {**dict.fromkeys(METRIC_TABLES, "metrics"), "otel_logs": "logs", "otel_traces": "traces"}

SLICE = timedelta(days=1)
"""How much of a table's history one delete removes (one transaction)."""


class RetentionPolicy(BaseModel):
    """Days each signal is kept; 0 keeps it for ever."""

    model_config = ConfigDict(extra="forbid")

    metrics: int = Field(0, ge=0, description="Days of raw metric points.")
    logs: int = Field(0, ge=0, description="Days of log records.")
    traces: int = Field(0, ge=0, description="Days of spans.")

    def days(self, table: str) -> int:
        return int(getattr(self, SIGNAL_OF[table]))


@dataclass
class TableRetention:
    """What one table holds, and what a sweep at ``cutoff`` would remove."""

    table: str
    keep_days: int
    cutoff: datetime | None
    rows: int
    oldest: datetime | None
    expired: int

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "signal": SIGNAL_OF[self.table],
            "keep_days": self.keep_days,
            "cutoff": _iso(self.cutoff),
            "rows": self.rows,
            "oldest": _iso(self.oldest),
            "expired": self.expired,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _day(moment: datetime) -> datetime:
    """The start of the UTC day of ``moment``."""
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def cutoff(now: datetime, days: int, whole_days: bool) -> datetime:
    """Where rows kept ``days`` days expire: ``days`` before ``now``, or the start of that day when only whole
    days expire (with an archive)."""
    moment = now - timedelta(days=days)
    return _day(moment) if whole_days else moment


def report(
    cur: duckdb.DuckDBPyConnection, policy: RetentionPolicy, now: datetime, archive: Archive | None = None
) -> list[TableRetention]:
    """Every signal table: rows, oldest row, and how many rows a sweep now would remove."""
    tables = []
    for table, age in AGE.items():
        days = policy.days(table)
        limit = cutoff(now, days, archive is not None) if days else None
        expired = f"count(*) FILTER (WHERE {age} < $cutoff)" if limit else "0"
        sql = f"SELECT count(*), min({age}), {expired} FROM {stored_table(table)}"
        rows, oldest, removable = cur.execute(sql, {"cutoff": limit} if limit else None).fetchall()[0]
        tables.append(TableRetention(table, days, limit, int(rows), oldest, int(removable or 0)))
    return tables


def sweep(
    cur: duckdb.DuckDBPyConnection, policy: RetentionPolicy, now: datetime, archive: Archive | None = None
) -> dict[str, int]:
    """Remove every expired row, a day of each table at a time, archived first when there is an archive;
    rows removed per table. ``ArchiveFailed`` says which day could not be archived, and what was removed
    before it."""
    removed: dict[str, int] = {}
    for table, age in AGE.items():
        days = policy.days(table)
        if days:
            removed[table] = 0
            try:
                _sweep_table(cur, table, age, cutoff(now, days, archive is not None), archive, removed)
            except ArchiveFailed as exc:
                raise ArchiveFailed(str(exc), removed) from exc
    return removed


def _sweep_table(
    cur: duckdb.DuckDBPyConnection,
    table: str,
    age: str,
    limit: datetime,
    archive: Archive | None,
    removed: dict[str, int],
) -> None:
    while True:
        sql = f"SELECT min({age}) FROM {stored_table(table)} WHERE {age} < ?"
        oldest = cur.execute(sql, [limit]).fetchall()[0][0]
        if oldest is None:
            return
        day = _day(oldest)
        removed[table] += _sweep_slice(cur, table, age, day, min(day + SLICE, limit), archive)


def _sweep_slice(
    cur: duckdb.DuckDBPyConnection, table: str, age: str, lo: datetime, hi: datetime, archive: Archive | None
) -> int:
    """Remove the rows aged in [lo, hi) in one transaction, archived first; how many."""
    cur.execute("BEGIN TRANSACTION")
    try:
        archived = archive.write_day(cur, table, age, lo, hi) if archive else None
        sql = f"DELETE FROM {stored_table(table)} WHERE {age} >= ? AND {age} < ?"
        count = int(cur.execute(sql, [lo, hi]).fetchall()[0][0])
        if archived is not None and archived != count:
            raise ArchiveFailed(
                f"the archive of {table} of {lo:%Y-%m-%d} got {archived} rows of the {count} to remove, "
                "so none of that day was deleted"
            )
        cur.execute("COMMIT")
    except (duckdb.Error, ArchiveFailed):
        cur.execute("ROLLBACK")
        raise
    return count


class RetentionService:
    """Sweeps on a cursor of its own, on request and on a schedule; one sweep at a time. With an archive,
    each day is archived before it is removed."""

    def __init__(
        self, cursor: duckdb.DuckDBPyConnection, policy: RetentionPolicy, archive: Archive | None = None
    ) -> None:
        self.cursor, self.policy, self.archive = cursor, policy, archive
        self._lock = threading.Lock()
        self.last_sweep: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return any(self.policy.days(table) for table in AGE)

    def report(self, now: datetime | None = None) -> list[TableRetention]:
        with self._lock:
            return report(self.cursor, self.policy, now or datetime.now(UTC), self.archive)

    def sweep(self, now: datetime | None = None) -> dict[str, Any]:
        """Sweep now; what was removed, and the error that stopped it (else None), also kept as ``last_sweep``."""
        moment = now or datetime.now(UTC)
        started = time.perf_counter()
        error = None
        with self._lock:
            try:
                removed = sweep(self.cursor, self.policy, moment, self.archive)
            except ArchiveFailed as exc:
                removed, error = exc.removed, str(exc)
        self.last_sweep = {
            "at": _iso(moment),
            "removed": removed,
            "seconds": round(time.perf_counter() - started, 3),
            "error": error,
        }
        return self.last_sweep

    def scheduled_sweep(self) -> None:
        """One scheduled sweep (``Every`` calls it), logged when it removed anything or was stopped."""
        result = self.sweep()
        if result["error"]:
            log.warning("retention sweep stopped: %s", result["error"])
        if any(result["removed"].values()):
            log.info("retention removed %s in %.1f s", result["removed"], result["seconds"])


__all__ = ["AGE", "RetentionPolicy", "RetentionService", "TableRetention", "cutoff", "report", "sweep"]
