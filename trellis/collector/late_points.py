"""Marking the hours of metric points that arrive after the hourly rollups had covered them.

Whoever keeps rollups (``trellis.analytics.rollups``) tells the store up to when it has rolled hours up
(``LateHours.watch``). From then on, the writer marks, in the same transaction that stores the points,
for every metric point older than that or up to ``reach`` after it: the point's hour, the hour ``reach``
earlier (the interval the point ends began there, and counts its part in each hour it crosses) and the
hour ``reach`` later (a point is the predecessor of the next one, whose interval it starts), those of
them the rollups cover, in ``late_metric_hours``; the rollups
recompute those hours and remove the marks. Marks are made as points are committed, so none is lost
to a crash.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from trellis.collector.schema import LATE_HOURS_TABLE


class LateHours:
    """Up to when rollups cover the metric tables, and the marking of points older than that."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: datetime | None = None
        self._reach = timedelta(0)

    def watch(self, until: datetime, reach: timedelta) -> None:
        """Rollups now cover every hour before ``until``; a point also affects the hours ``reach`` earlier and
        later."""
        with self._lock:
            self._until, self._reach = until, reach

    def mark(self, cur: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
        """Mark the hours of ``data``'s points older than the rollups' cover (inside the caller's transaction)."""
        with self._lock:
            until, reach = self._until, self._reach
        if until is None or not table.startswith("otel_metrics_") or "time" not in data.column_names:
            return
        times = data.column("time")
        earliest = pc.min(times).as_py()
        if earliest is None or earliest >= until + reach:
            return
        # A point up to ``reach`` after the cover ends an interval that begins inside it.
        late = pc.filter(times, pc.less(times, pa.scalar(until + reach, type=times.type)))
        covered = pa.scalar(until, type=times.type)
        hours: set[datetime] = set()
        for shift in (-reach, timedelta(0), reach):
            moved = pc.floor_temporal(pc.add(late, pa.scalar(shift)) if shift else late, unit="hour")
            hours |= {hour for hour in pc.unique(pc.filter(moved, pc.less(moved, covered))).to_pylist() if hour}
        if not hours:
            return
        cur.execute(
            f"INSERT INTO {LATE_HOURS_TABLE} SELECT unnest($hours::TIMESTAMPTZ[]), now()", {"hours": sorted(hours)}
        )


__all__ = ["LateHours"]
