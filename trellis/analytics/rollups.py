"""Usage rollups kept as data arrives: per series, metric and hour, the sums utilization and cost are made of.

The collector runs ``RollupService``: every ``--rollup-interval-seconds`` it rolls up each hour that ended
``LATENESS`` ago and is not rolled up yet, oldest first (from the first metric point stored), and
recomputes the hours that late points changed. While points keep coming (newer ones since the turn
before), an hour also waits until they have moved ``LATENESS`` past it: a backfill's hours are rolled up
once each, as their points are in, not again at every turn while they come. An hour is computed by the
same pass the jobs run (``usage_pass.Pass`` over that hour: counters with resets, gauges held between
samples, each (series, time) once), reading the points up to ``LOOKBACK`` after the hour too, so that an
interval that crosses the hour counts its part in each hour. Its rows are replaced in one transaction.
Before rolling up an hour the service tells the store (``late_points.LateHours``), so that a point for it
committed later marks the hour, which the next turn recomputes: the rollups equal what the pass computes
from the raw points, whatever order and however late they came. A point's predecessor is looked for at
most ``LOOKBACK`` back, as at the start of any period the jobs compute.

``rollup_usage_hourly`` holds, per series (with its subject), metric and hour: ``weighted`` (value x
seconds: core-seconds or byte-seconds), ``seconds``, ``samples``, ``sample_min`` and ``sample_max`` and,
for usage metrics, the samples' ``sketch`` (``buckets`` and their ``counts``), from which utilization reads
percentiles. ``rollup_usage_hours`` lists the hours rolled up (``sketched``: with sketches; hours rolled up
by a version without them are read by cost, and by utilization from the points). ``rollup_usage_daily``
sums the hourly rows per workload, metric and UTC day, kept in step with the hours each turn rolled up,
recomputed or removed. Each turn also removes the hours older than ``--retention-rollups-days`` (400 by
default; 0 keeps them all), except the last hour rolled up, from which the next turn goes on.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl

from trellis.analytics.metrics import LOOKBACK, SUBJECT
from trellis.analytics.sources import Period, Sources
from trellis.analytics.usage_pass import NAMES, SUBSETS, Pass, code_sql, name_sql
from trellis.collector import LATE_HOURS_TABLE, Store, stored_table

log = logging.getLogger("trellis.analytics")

HOURLY = "rollup_usage_hourly"
HOURS = "rollup_usage_hours"
DAILY = "rollup_usage_daily"
HOUR = timedelta(hours=1)
LATENESS = LOOKBACK + timedelta(minutes=2)
"""An hour is rolled up once it ended this long ago: the points sent on time up to ``LOOKBACK`` after it,
which end intervals that begin inside it, have arrived by then (a point later than that marks the hour)."""
TURN_SECONDS = 20.0
"""A turn stops rolling up new hours after this long (the next turn goes on), so that a long backfill
leaves room for the rest."""

DDL = [
    f"""CREATE TABLE IF NOT EXISTS {HOURLY} (
        hour TIMESTAMPTZ NOT NULL, series_id UBIGINT NOT NULL, metric_name VARCHAR NOT NULL, counter BOOLEAN,
        {", ".join(f"{c} VARCHAR" for c in SUBJECT)},
        weighted DOUBLE, seconds DOUBLE, samples BIGINT, subset UTINYINT, sample_min DOUBLE, sample_max DOUBLE,
        buckets SMALLINT[], counts BIGINT[])""",
    f"""CREATE TABLE IF NOT EXISTS {HOURS} (
        hour TIMESTAMPTZ PRIMARY KEY, rolled_at TIMESTAMPTZ NOT NULL, sketched BOOLEAN)""",
    f"""CREATE TABLE IF NOT EXISTS {DAILY} (
        day TIMESTAMPTZ NOT NULL, team VARCHAR, workload VARCHAR, environment VARCHAR, metric_name VARCHAR NOT NULL,
        counter BOOLEAN, series BIGINT, weighted DOUBLE, seconds DOUBLE, samples BIGINT)""",
]
UTC_DAY = "timezone('UTC', date_trunc('day', timezone('UTC', {})))"
"""The start of a TIMESTAMPTZ's UTC day, whatever the session's time zone."""


BATCH_HOURS = 24
"""Consecutive hours rolled up by one pass over their points."""

ADDED = {
    HOURLY: {
        "subset": "UTINYINT",
        "sample_min": "DOUBLE",
        "sample_max": "DOUBLE",
        "buckets": "SMALLINT[]",
        "counts": "BIGINT[]",
    },
    HOURS: {"sketched": "BOOLEAN"},
}
"""Columns a store made by an older version lacks, added when the rollups start."""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in DDL:
        con.execute(ddl)
    for table, added in ADDED.items():
        columns = {name for (name,) in con.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()}
        for column, kind in added.items():
            if column not in columns:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                if column == "subset":
                    # A counter's subset is known; the other two (gauges read from the sum or the gauge
                    # table) only key the series' names, which each row carries.
                    con.execute(f"UPDATE {HOURLY} SET subset = CASE WHEN counter THEN 0 ELSE 2 END")
                if column == "sketched":
                    con.execute(f"UPDATE {HOURS} SET sketched = false")


def roll_hour(con: duckdb.DuckDBPyConnection, hour: datetime) -> int:
    """Replace the rollups of ``hour`` (UTC) with what the pass computes from the raw points; rows written."""
    return roll_hours(con, hour, hour + HOUR)


def roll_hours(con: duckdb.DuckDBPyConnection, first: datetime, end: datetime) -> int:
    """Replace the rollups of the hours from ``first`` up to ``end`` (UTC, on the hour) with what one pass
    over their points computes, hour by hour (``metrics.split_hours``); rows written."""
    start, stop = (moment.astimezone(UTC).replace(tzinfo=None) for moment in (first, end))
    sources = Sources(con)
    built = Pass(sources, Period(start, stop), True, LOOKBACK, known=_named_before(sources, first))
    hours = [first + HOUR * n for n in range(round((end - first) / HOUR))]
    try:
        # The pass reads in the transaction that removes the hours' marks: a point committed after it began
        # is left to its mark, which the transaction cannot see, and so does not remove.
        con.execute("BEGIN TRANSACTION")
        try:
            found = built.run()
            con.execute(f"DELETE FROM {HOURLY} WHERE hour >= $first AND hour < $end", {"first": first, "end": end})
            rows = _insert(con, built) if found else 0
            con.execute(f"DELETE FROM {LATE_HOURS_TABLE} WHERE hour >= $first AND hour < $end",
                        {"first": first, "end": end})  # fmt: skip
            con.execute(
                f"INSERT OR REPLACE INTO {HOURS} SELECT unnest($hours::TIMESTAMPTZ[]), now(), true", {"hours": hours}
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        built.drop()
    return rows


KNOWN_HOURS = 2
"""The series rolled up in this many hours before a pass's first are named from their rows, not their points."""


def _named_before(sources: Sources, first: datetime) -> pl.DataFrame:
    """The subjects of the series rolled up in the KNOWN_HOURS before ``first``, as ``Pass.idents`` has them."""
    where = "hour >= $low AND hour < $first AND subset IS NOT NULL"
    return sources.sql(_subjects_sql(where), {"low": first - KNOWN_HOURS * HOUR, "first": first})


def _subjects_sql(where: str) -> str:
    """Each series' subject in the rollup rows that meet ``where``: a series is one resource's, so each of
    its rows names the same subject."""
    subject = ", ".join(f"any_value({c}) AS {c}" for c in SUBJECT)
    return f"SELECT subset, series_id, {subject} FROM {HOURLY} WHERE {where} GROUP BY ALL"


_KEYS = "subset, series_id, code, counter, hour_ns"
"""What a pass's partial sums and sketch counts are per."""


def _insert(con: duckdb.DuckDBPyConnection, built: Pass) -> int:
    idents = pl.concat(built.idents, how="vertical_relaxed").unique(["subset", "series_id"], keep="first")
    con.register("rollup_idents", idents.to_arrow())
    try:
        return int(
            con.execute(
                f"""INSERT INTO {HOURLY} BY NAME
                SELECT make_timestamptz(r.hour_ns // 1000) AS hour, r.series_id, {name_sql("r.code")} AS metric_name,
                       r.counter,
                       {", ".join(f"i.{c}" for c in SUBJECT)}, r.weighted, r.seconds, r.samples, r.subset, r.sample_min,
                       r.sample_max,
                       k.buckets, k.counts
                FROM (
                    SELECT {_KEYS}, sum(weighted) AS weighted, sum(seconds) AS seconds, sum(samples) AS samples,
                           min(sample_min) AS sample_min, max(sample_max) AS sample_max
                    FROM {built.raw} GROUP BY ALL
                ) r
                LEFT JOIN rollup_idents i ON i.subset = r.subset AND i.series_id = r.series_id
                LEFT JOIN ({_merged_sketches(built.sketches)}) k
                       ON {" AND ".join(f"k.{key} = r.{key}" for key in _KEYS.split(", "))}"""
            ).fetchall()[0][0]
        )
    finally:
        con.unregister("rollup_idents")


def _merged_sketches(table: str) -> str:
    """A pass's sketch lists (``table``), one row per series, metric and hour, in SQL: as they are where the
    pass counted the hour in one chunk, else added up bucket by bucket (an hour split between two chunks)."""
    return f"""
        WITH counted AS MATERIALIZED (SELECT *, count(*) OVER (PARTITION BY {_KEYS}) AS parts FROM {table})
        SELECT {_KEYS}, buckets, counts FROM counted WHERE parts = 1
        UNION ALL
        SELECT {_KEYS}, list(bucket ORDER BY bucket) AS buckets, list(count ORDER BY bucket) AS counts FROM (
            SELECT {_KEYS}, bucket, sum(count)::BIGINT AS count FROM (
                SELECT {_KEYS}, unnest(buckets) AS bucket, unnest(counts) AS count FROM counted WHERE parts > 1)
            GROUP BY ALL)
        GROUP BY ALL"""


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def covered(sources: Sources, period: Period, sketched: bool = False) -> list[datetime]:
    """The hours inside ``period`` (UTC) whose rollups stand for their raw points: rolled up (with sketches,
    when ``sketched``), and not marked by a late point since. Between the first and the last hour rolled up,
    an hour without rows had no points."""
    if not all(sources.has(table) for table in (HOURLY, HOURS, LATE_HOURS_TABLE)):
        return []
    first, last = sources.con.execute(f"SELECT min(hour), max(hour) FROM {HOURS}").fetchall()[0]
    if first is None:
        return []
    start, end = (moment.replace(tzinfo=UTC) for moment in (period.start, period.end))
    low = max(_floor_hour(start) + (HOUR if start > _floor_hour(start) else timedelta(0)), first)
    high = min(_floor_hour(end) - HOUR, last)
    if high < low:
        return []
    unsketched = f" UNION SELECT hour FROM {HOURS} WHERE NOT sketched AND hour BETWEEN $low AND $high"
    late = {
        hour
        for (hour,) in sources.con.execute(
            f"SELECT DISTINCT hour FROM {LATE_HOURS_TABLE} WHERE hour BETWEEN $low AND $high"
            + (unsketched if sketched else ""),
            {"low": low, "high": high},
        ).fetchall()
    }
    return [hour for hour in (low + HOUR * n for n in range(round((high - low) / HOUR) + 1)) if hour not in late]


def gaps(period: Period, hours: list[datetime]) -> list[Period]:
    """The parts of ``period`` outside ``hours`` (sorted, UTC), as periods of their own (naive UTC)."""
    parts, start = [], period.start
    for hour in (h.astimezone(UTC).replace(tzinfo=None) for h in hours):
        if hour > start:
            parts.append(Period(start, hour))
        start = max(start, hour + HOUR)
    if start < period.end:
        parts.append(Period(start, period.end))
    return parts


def _covering(hours: list[datetime], low: int | None = None, high: int | None = None) -> str:
    """SQL keeping the rollups of ``hours`` (sorted, UTC), those from ``low`` up to ``high`` (ns) when given:
    the hours as a range, which DuckDB reads by the zone maps of the hour column, less the few inside it
    that are not covered."""
    first, last = hours[0], hours[-1]
    skipped = sorted({first + HOUR * n for n in range(round((last - first) / HOUR) + 1)} - set(hours))
    where = [f"hour BETWEEN '{first.isoformat()}'::TIMESTAMPTZ AND '{last.isoformat()}'::TIMESTAMPTZ"]
    if skipped:
        where.append("NOT list_contains([" + ", ".join(f"'{h.isoformat()}'::TIMESTAMPTZ" for h in skipped) + "], hour)")
    if low is not None and high is not None:
        where.append(f"hour >= make_timestamptz({low // 1000}) AND hour < make_timestamptz({high // 1000})")
    return " AND ".join(where)


def rows_sql(hours: list[datetime], low: int | None = None, high: int | None = None, columns: str = "*") -> str:
    """The rollups of ``hours`` (from ``low`` up to ``high``, ns, when given) shaped as a pass's ``raw`` rows
    (``usage_pass.Pass.create``), those ``columns`` of them, in SQL."""
    return f"""SELECT {columns} FROM (
        SELECT subset, series_id, {code_sql(NAMES)} AS code, counter, epoch_ns(hour) AS hour_ns, weighted, seconds,
               samples, sample_min, sample_max
        FROM {HOURLY} WHERE {_covering(hours, low, high)})"""


def sketch_sql(hours: list[datetime]) -> str:
    """The sketches of the rollups of ``hours`` (their ``buckets`` and ``counts`` lists), in SQL."""
    return f"""SELECT subset, series_id, {code_sql(NAMES)} AS code, counter, buckets, counts
        FROM {HOURLY} WHERE {_covering(hours)} AND buckets IS NOT NULL"""


def subjects(sources: Sources, hours: list[datetime]) -> pl.DataFrame:
    """The subjects of the series the rollups of ``hours`` hold, as ``usage_pass.Pass.idents`` has them."""
    return sources.sql(_subjects_sql(_covering(hours)))


def batches(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Hours (sorted) as ranges ``[first, end)`` of up to BATCH_HOURS, each from one of them to the hour
    after the last of them it holds (the hours between, without points, are rolled up as empty)."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if ranges and hour < ranges[-1][0] + BATCH_HOURS * HOUR:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


def newest_point(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The time of the newest metric point stored (a few milliseconds over a hundred million points)."""
    tables = sorted({stored_table(table) for _, table, _ in SUBSETS})
    found = con.execute(" UNION ALL ".join(f'SELECT max("time") AS t FROM {t}' for t in tables)).fetchall()
    times = [t for (t,) in found if t is not None]
    return max(times) if times else None


def _marked(con: duckdb.DuckDBPyConnection, last: datetime | None) -> list[datetime]:
    """The hours up to ``last`` that late points marked, oldest first. A mark for an hour not rolled up yet
    (a late point's reach) waits: that hour is rolled up when it ends."""
    found = con.execute(
        f"SELECT DISTINCT hour FROM {LATE_HOURS_TABLE} WHERE hour <= $last ORDER BY hour", {"last": last}
    ).fetchall()
    return [h for (h,) in found]


def due_hours(
    con: duckdb.DuckDBPyConnection, now: datetime, stream: datetime | None = None
) -> tuple[list[datetime], list[datetime]]:
    """Hours to recompute (marked by late points) and hours to roll up for the first time, oldest first:
    the closed hours after the last one rolled up, from the first with points (or points in the ``LOOKBACK``
    after) to the last with points.
    An hour is closed ``LATENESS`` after it ends; with ``stream`` (the newest point's time, while points
    keep coming), also not before the points have moved that far past it: a backfill's hour is rolled up
    once, when its points are in, not again and again while they come."""
    closed = now - HOUR - LATENESS
    if stream is not None:
        closed = min(closed, stream - HOUR - LATENESS)
    last = con.execute(f"SELECT max(hour) FROM {HOURS}").fetchall()[0][0]
    late = _marked(con, last)
    if last is not None and last + HOUR > closed:
        return late, []  # the hour after the last one rolled up has not closed: no scan of the newest points
    params: dict[str, datetime] = {"closed": closed}
    newer = ""
    if last is not None:
        params["after"], newer = last + HOUR, 'AND "time" >= $after'
    reach = f"INTERVAL {int(LOOKBACK.total_seconds())} SECOND"
    # From the hour of the oldest point not rolled up (or the one before, whose last interval it may end)
    # to that of the newest, as far as the last closed hour, every hour is due; one without points between
    # is rolled up as empty. A min and a max over the newest row groups, not a scan of every point's hour.
    bounds = " UNION ALL ".join(
        f'SELECT min("time") AS first, max("time") AS last FROM {stored_table(table)} '
        f'WHERE "time" < $closed + INTERVAL 1 HOUR + {reach} {newer}'
        for table in sorted({table for _, table, _ in SUBSETS})
    )
    first, newest = con.execute(f"SELECT min(first), max(last) FROM ({bounds})", params).fetchall()[0]
    if first is None:
        return late, []
    hour, end = _floor_hour(first - LOOKBACK), min(closed, newest)
    if last is not None:
        hour = max(hour, last + HOUR)
    due = []
    while hour <= end:
        due.append(hour)
        hour += HOUR
    return late, due


def roll_days(con: duckdb.DuckDBPyConnection, hours: list[datetime]) -> None:
    """Recompute the daily rows of the UTC days of ``hours`` from the hourly rows, in one transaction."""
    days = sorted({datetime(h.year, h.month, h.day, tzinfo=UTC) for h in (h.astimezone(UTC) for h in hours)})
    if not days:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {DAILY} WHERE list_contains($days, day)", {"days": days})
        con.execute(
            f"""INSERT INTO {DAILY}
                SELECT {UTC_DAY.format("hour")} AS day, team, workload, environment, metric_name, counter,
                       count(DISTINCT series_id), sum(weighted), sum(seconds), sum(samples)
                FROM {HOURLY}
                WHERE hour >= $first AND hour < $end AND list_contains($days, {UTC_DAY.format("hour")})
                GROUP BY ALL""",
            {"days": days, "first": days[0], "end": days[-1] + timedelta(days=1)},
        )  # the range lets DuckDB skip the rest of the table by the hour column's zone maps
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def expire(con: duckdb.DuckDBPyConnection, before: datetime) -> list[datetime]:
    """Remove the rollups of the hours that start before ``before``, but the last hour rolled up (the
    next turn goes on from it); the hours removed."""
    con.execute("BEGIN TRANSACTION")
    try:
        gone = con.execute(
            f"""DELETE FROM {HOURS} WHERE hour < $before AND hour < (SELECT max(hour) FROM {HOURS})
                RETURNING hour""",
            {"before": before},
        ).fetchall()
        if gone:
            con.execute(f"DELETE FROM {HOURLY} WHERE hour <= $last", {"last": max(h for (h,) in gone)})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return [h for (h,) in gone]


class RollupService:
    """Keeps the rollups of the store, a turn at a time, on a cursor of its own."""

    def __init__(self, store: Store, keep_days: int = 0) -> None:
        """``keep_days``: days of rollups kept (0: all)."""
        self.store, self.keep_days = store, keep_days
        self.cursor = store.cursor()
        ensure_tables(self.cursor)
        self._newest = newest_point(self.cursor)
        self._fill_daily()
        self._watch_after_last()

    def _fill_daily(self) -> None:
        """The daily rows of hours rolled up before the daily table existed (a store made by an older version)."""
        if self.cursor.execute(f"SELECT count(*) FROM {DAILY}").fetchall()[0][0]:
            return
        roll_days(self.cursor, [h for (h,) in self.cursor.execute(f"SELECT DISTINCT hour FROM {HOURLY}").fetchall()])

    def _stream(self) -> datetime | None:
        """The newest point's time when newer points came since the turn before (or the start): a stream
        going on; else None."""
        newest, before = newest_point(self.cursor), self._newest
        self._newest = newest
        return newest if newest is not None and (before is None or newest > before) else None

    def _watch_after_last(self) -> None:
        """Late points for an hour rolled up already mark it, from now on (also after a restart)."""
        last = self.cursor.execute(f"SELECT max(hour) FROM {HOURS}").fetchall()[0][0]
        if last is not None:
            self.store.late_hours.watch(last + HOUR, LOOKBACK)

    def turn(self, now: datetime | None = None) -> list[datetime]:
        """Recompute the hours late points marked, then roll up new closed hours for up to TURN_SECONDS."""
        late, new = due_hours(self.cursor, now or datetime.now(UTC), self._stream())
        for hour in late:
            roll_hour(self.cursor, hour)
        started, rolled = time.monotonic(), list(late)
        for first, end in batches(new):
            if time.monotonic() - started > TURN_SECONDS:
                break
            self.store.late_hours.watch(end, LOOKBACK)
            roll_hours(self.cursor, first, end)
            rolled += [first + HOUR * n for n in range(round((end - first) / HOUR))]
        gone = (
            expire(self.cursor, (now or datetime.now(UTC)) - timedelta(days=self.keep_days)) if self.keep_days else []
        )
        roll_days(self.cursor, rolled + gone)
        return rolled

    def scheduled_turn(self) -> None:
        """One scheduled turn (``Every`` calls it), logged when it rolled anything up."""
        rolled = self.turn()
        if rolled:
            log.info("rollups: %d hours, up to %s", len(rolled), max(rolled).isoformat())


__all__ = [
    "DAILY",
    "HOURLY",
    "HOURS",
    "LATENESS",
    "RollupService",
    "batches",
    "covered",
    "due_hours",
    "ensure_tables",
    "expire",
    "gaps",
    "newest_point",
    "roll_days",
    "roll_hour",
    "roll_hours",
    "rows_sql",
    "sketch_sql",
    "subjects",
]
