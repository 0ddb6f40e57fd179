"""The one pass over a period's container metric points: partial sums per series and hour, in DuckDB.

``metrics.read_intervals`` turns every point into an interval in one Polars frame, with its subject's names
on every row; this pass applies the same rules (``metrics.counter_intervals``, ``gauge_intervals`` and
``_clip`` themselves, lazily, with the row above as a point's predecessor) a time chunk at a time, and keeps
only what utilization and cost need:

- Points travel from DuckDB as numbers only (series, metric code, times, value, and for the counter its
  start time and temporality), a time chunk at a time, each chunk with every series' last earlier point
  (the carry) so that the first interval of a chunk has its start. Of the lookback before the period and
  the lookahead after it only that point is read per series: the last before, the first after (``_edge``).
- Polars sorts each chunk by series and time (on the other core, while it works on the previous chunk),
  so a point's predecessor is the row above it when that is of the same series.
- Each chunk's intervals are summed per series, metric, source and hour (value x seconds, seconds,
  samples, the smallest and largest sample) into a temporary table (``raw``); with sketches, the usage
  samples (a counter's rates, a gauge's points) are counted per series, metric, hour and ``sketch`` bucket,
  as lists in bucket order, into another (``sketches``), from which percentiles are read. Both group the
  runs of rows a series has in an hour (``_runs``): an hour read in two chunks has a row from each.
- A series' subject (team, workload, environment, namespace, pod, container) is read once, from the chunk
  its first point is in: the collector's ``series_id`` hashes the resource those names come from.

``usage_sql`` turns the partial sums into the jobs' tables.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import duckdb
import polars as pl

from trellis.analytics import sketch
from trellis.analytics.metrics import (
    _DERIVED,
    _KIND_OF,
    CPU_REQUEST,
    CPU_TIME,
    CPU_USAGE,
    DELTA,
    LOOKBACK,
    MEMORY_REQUEST,
    MEMORY_USAGE,
    _clip,
    counter_intervals,
    ending_hour,
    gauge_intervals,
    split_hours,
)
from trellis.analytics.sources import Frame, Period, Sources, naive_utc
from trellis.collector import RESOURCES_TABLE, instant_sql, stored_table

CHUNK_POINTS = 2_000_000
"""Points turned into intervals at a time."""
NAMES = CPU_TIME + CPU_USAGE + CPU_REQUEST + MEMORY_USAGE + MEMORY_REQUEST
"""Every metric read; a point carries its metric as the position in this tuple (its code)."""
USAGE_CODES = [code for code, name in enumerate(NAMES) if _KIND_OF[name] == "usage"]
"""The codes of the metrics whose samples the sketches count."""
SUBSETS = (
    ("counter", "otel_metrics_sum", CPU_TIME),
    ("sum_gauge", "otel_metrics_sum", CPU_REQUEST + MEMORY_REQUEST + MEMORY_USAGE),
    ("gauge", "otel_metrics_gauge", CPU_USAGE + CPU_REQUEST + MEMORY_REQUEST + MEMORY_USAGE),
)
"""The sets of points ``metrics.read_intervals`` shifts over ``series_id`` separately, and where they are."""
_EPOCH = datetime(1970, 1, 1)
_IDENTITY = f"""{{
    'team': coalesce(service_namespace, k8s_namespace_name),
    'workload': coalesce(service_name, {_DERIVED["k8s_workload"]}, k8s_pod_name),
    'environment': deployment_environment_name,
    'k8s_namespace': k8s_namespace_name,
    'pod': k8s_pod_name,
    'container': k8s_container_name}}"""


def ns(moment: datetime) -> int:
    """A naive UTC datetime as nanoseconds since the epoch."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def quoted(names: tuple[str, ...]) -> str:
    return ", ".join("'" + n.replace("'", "''") + "'" for n in names)


def code_sql(names: tuple[str, ...]) -> str:
    """The metric's code (its position in NAMES), in SQL; NULL for a name not among ``names``. A lookup in
    a list rather than a CASE of string comparisons: a sixth of the CPU over the rollups' 17 million rows."""
    codes = ", ".join(str(NAMES.index(n)) for n in names)
    return f"CAST([{codes}][list_position([{quoted(names)}], metric_name)] AS UTINYINT)"


def name_sql(code: str) -> str:
    """The metric's name of the code in the SQL expression ``code``: the inverse of ``code_sql``."""
    return f"[{quoted(NAMES)}][{code} + 1]"


def points_where(names: tuple[str, ...], low: int, high: int) -> str:
    """The points of these metrics with ``low <= time < high`` (ns) and a finite value, in SQL: a NaN (how a
    Prometheus staleness marker arrives) or an infinite value counts as not recorded, as in ``metrics``."""
    return (
        f'"time" >= {instant_sql(low)} AND "time" < {instant_sql(high)} '
        f"AND metric_name IN ({quoted(names)}) AND isfinite(value)"
    )


def _previous_row(column: str) -> pl.Expr:
    """``metrics.Previous`` for points sorted by series, then time: the row above, in the same series."""
    return pl.when(pl.col("series_id") == pl.col("series_id").shift(1)).then(pl.col(column).shift(1))


def _by_series_and_time(points: pl.DataFrame) -> pl.DataFrame:
    """Points sorted by series, then time: by time, then stably by series, each on one thread. Points come
    nearly in time order, so this costs Polars a third of the CPU DuckDB's sort by both keys takes, and
    under half of Polars' own on both keys or on more threads (benchmarks, docs/performance.md)."""
    by_time = points.sort("time", multithreaded=False)
    return by_time.sort("series_id", maintain_order=True, multithreaded=False)


def _distinct(points: pl.DataFrame) -> pl.DataFrame:
    """Points sorted by series and time, each (series, time) once, the one of the lowest value
    (``metrics.distinct_points``): a retried export stores its points twice. Sorting by value too would cost
    DuckDB twice the CPU for the few repeated points; these are sorted here, by themselves."""
    same = (
        (pl.col("series_id") == pl.col("series_id").shift(1)) & (pl.col("time") == pl.col("time").shift(1))
    ).fill_null(False)
    repeated = points.select(same | same.shift(-1, fill_value=False)).to_series()
    if not repeated.any():
        return points
    numbered = points.with_row_index("row")
    kept = (
        numbered.filter(repeated)
        .sort("series_id", "time", "value")
        .unique(["series_id", "time"], keep="first")
        .get_column("row")
    )
    return numbered.filter(~repeated | pl.col("row").is_in(kept.implode())).drop("row")


class Pass:
    """Fills ``raw`` (and ``sketches``) for the period and reads each series' subject (``idents``)."""

    def __init__(
        self,
        sources: Sources,
        period: Period,
        with_sketches: bool,
        lookahead: timedelta = LOOKBACK,
        into: tuple[str, str] | None = None,
        known: pl.DataFrame | None = None,
    ) -> None:
        """``with_sketches``: count the usage samples into ``sketches`` too; ``lookahead``: as
        ``metrics.read_intervals`` takes it; ``into``: the ``raw`` and ``sketches`` tables of another pass to
        add to (one for each part of a period), else tables of its own; ``known``: subjects of series named
        already (as ``idents`` has them), which the pass does not read again."""
        self.sources, self.con, self.period = sources, sources.con, period
        self.low, self.high = ns(period.start - LOOKBACK), ns(period.end + lookahead)
        self.start, self.end = ns(period.start), ns(period.end)
        self.with_sketches = with_sketches
        tag = uuid.uuid4().hex
        self.raw, self.sketches = into or (f"trellis_raw_{tag}", f"trellis_sketches_{tag}")
        self._staged = f"trellis_staged_{tag}"
        self.known = known
        self.idents: list[pl.DataFrame] = []

    def drop(self) -> None:
        for table in (self.raw, self.sketches):
            self.con.execute(f"DROP TABLE IF EXISTS {table}")

    def create(self) -> None:
        """The ``raw`` and ``sketches`` tables, empty, unless they exist."""
        keys = "subset UTINYINT, series_id UBIGINT, code UTINYINT, counter BOOLEAN, hour_ns BIGINT"
        self.con.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {self.raw} ({keys}, weighted DOUBLE, seconds DOUBLE, samples BIGINT, "
            "sample_min DOUBLE, sample_max DOUBLE)"
        )
        self.con.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {self.sketches} ({keys}, buckets SMALLINT[], counts BIGINT[])"
        )

    def run(self) -> bool:
        """Go over every subset's points; False when there are none."""
        self.create()
        for number, (subset, table, names) in enumerate(SUBSETS):
            if self.sources.has(table):
                _Subset(self, number, subset == "counter", table, names).run()
        return bool(self.idents)

    def insert(self, table: str, frame: pl.DataFrame) -> None:
        self.con.register(self._staged, frame.to_arrow())
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM {self._staged}")
        finally:
            self.con.unregister(self._staged)


class _Subset:
    """One subset's points, chunk by chunk: DuckDB reads and sorts the next chunk (on a cursor of its own)
    while Polars turns the current one into sums, so that both cores work."""

    def __init__(self, owner: Pass, number: int, counter: bool, table: str, names: tuple[str, ...]) -> None:
        self.owner, self.number, self.counter, self.names = owner, number, counter, names
        self.points = stored_table(table)
        """Where the points are stored: read without the view's join, their resource by id (docs/schema.md)."""
        self.known = None if owner.known is None else owner.known.filter(pl.col("subset") == number)
        """Subjects named already, of series not met yet in this pass."""
        self.seen = pl.Series("series_id", [], pl.UInt64)
        if self.known is not None:
            self.seen = self.known["series_id"].cast(pl.UInt64)
        self.carry: pl.DataFrame | None = None
        self._carried = f"trellis_carried_{uuid.uuid4().hex}"

    def run(self) -> None:
        ranges = self._ranges()
        if not ranges:
            return
        reader = self.owner.sources.cursor()
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                upcoming = pool.submit(self._fetch, reader, ranges[0])
                for index, (low, _) in enumerate(ranges):
                    points = upcoming.result()
                    if index + 1 < len(ranges):
                        upcoming = pool.submit(self._fetch, reader, ranges[index + 1])
                    self._chunk(points, low)
        finally:
            reader.close()

    def _ranges(self) -> list[tuple[int, int]]:
        """Time ranges (ns) of about CHUNK_POINTS points each over the period, assuming points spread evenly
        over time, then the range after it (``_fetch`` reads its first point per series). A period without
        points of its own has an empty range: an interval from before it to after it may still cross it."""
        inside = points_where(self.names, self.owner.start, min(self.owner.end + 1, self.owner.high))
        row = self.owner.con.execute(
            f'SELECT count(*), min(epoch_ns("time")), max(epoch_ns("time")) FROM {self.points} WHERE {inside}'
        ).fetchall()[0]
        after = [(self.owner.end + 1, self.owner.high)] if self.owner.high > self.owner.end + 1 else []
        if not row[0]:
            around = points_where(self.names, self.owner.low, self.owner.high)
            if not self.owner.con.execute(f"SELECT count(*) FROM {self.points} WHERE {around}").fetchall()[0][0]:
                return []
            return [(self.owner.start, self.owner.start), *after]
        count, first, last = int(row[0]), int(row[1]), int(row[2])  # with no lookahead, before the period's end
        step = -(-(last + 1 - first) // max(1, -(-count // CHUNK_POINTS)))
        return [(low, min(low + step, last + 1)) for low in range(first, last + 1, step)] + after

    def _fields(self) -> list[str]:
        """The names of a point's columns as a pass reads them."""
        return ["series_id", "code", '"time"', "value"] + (
            ["start_time", "aggregation_temporality"] if self.counter else []
        )

    def _columns(self) -> str:
        """A point's columns as a pass reads them, in SQL (the metric's name as its code)."""
        return ", ".join(f"{code_sql(self.names)} AS code" if field == "code" else field for field in self._fields())

    def _edge(self, low: int, high: int, last: bool) -> str:
        """Each series' last (or first) point from ``low`` up to ``high`` (ns), the one of the lowest value
        when it has several at that time (as ``_distinct`` keeps), in SQL. Before the period and after it a
        pass needs no more: a point's interval begins at the point before it, so the last point before the
        period starts the first interval inside it, and the first point after it ends the last one. An
        aggregate over those points costs DuckDB a fraction of sorting them, and Polars nothing. A delta
        counter's point is the exception: its interval begins at its own start time, so after the period
        every delta point that started inside it is read too."""
        where = points_where(self.names, low, high)
        order = f'({"-" if last else ""}epoch_ns("time"), value)'
        edge = f"""SELECT unnest(arg_min(struct_pack({", ".join(self._fields())}), {order})) FROM (
            SELECT {self._columns()} FROM {self.points} WHERE {where}) GROUP BY series_id"""
        if last or not self.counter:
            return edge
        started = f"aggregation_temporality = {DELTA} AND start_time < {instant_sql(self.owner.end)}"
        return f"{edge} UNION ALL SELECT {self._columns()} FROM {self.points} WHERE {where} AND {started}"

    def _fetch(self, reader: duckdb.DuckDBPyConnection, bounds: tuple[int, int]) -> pl.DataFrame:
        """One chunk's points as numbers, after every series' last earlier point (the carry), sorted by series
        and time; keeps the new carry, and reads the subject of the series first seen in the chunk. The first
        chunk's carry is each series' last point before the period; the range after the period gives each
        series' first point in it (``_edge``)."""
        first, after = self.carry is None, bounds[0] > self.owner.end
        carried = ""
        if self.carry is not None:
            # Its times as the table's (UTC-aware): with naive ones DuckDB would convert every point's times
            # to the union's naive type through the session's time zone, half of the read's CPU.
            reader.register(
                self._carried, self.carry.with_columns(pl.col(pl.Datetime).dt.replace_time_zone("UTC")).to_arrow()
            )
            carried = f"SELECT * FROM {self._carried} UNION ALL "
        elif self.owner.low < self.owner.start:
            carried = self._edge(self.owner.low, self.owner.start, last=True) + " UNION ALL "
        chunk = f"SELECT {self._columns()} FROM {self.points} WHERE {points_where(self.names, *bounds)}"
        try:
            arrow = reader.sql(
                f"SELECT * FROM ({carried}{self._edge(*bounds, last=False) if after else chunk})"
            ).to_arrow_table()
        finally:
            if not first:
                reader.unregister(self._carried)
        points = pl.from_arrow(arrow)
        assert isinstance(points, pl.DataFrame)
        points = naive_utc(_distinct(_by_series_and_time(points)))
        self.carry = points.filter(pl.col("series_id").ne_missing(pl.col("series_id").shift(-1)))
        self._read_new_subjects(reader, self.carry["series_id"], (self.owner.low if first else bounds[0], bounds[1]))
        return points

    def _read_new_subjects(self, reader: duckdb.DuckDBPyConnection, ids: pl.Series, bounds: tuple[int, int]) -> None:
        if self.known is not None:  # those named already: their subjects as given, once
            met = self.known["series_id"].is_in(ids.implode())
            if met.any():
                self.owner.idents.append(self.known.filter(met))
                self.known = self.known.filter(~met)
        new = ids.filter(~ids.is_in(self.seen.implode()))
        if new.is_empty():
            return
        self.seen = pl.concat([self.seen, new])
        # Few series start after the first chunk: naming them spares DuckDB reading every point's names.
        only = f" AND series_id IN ({', '.join(map(str, new.to_list()))})" if 2 * new.len() < ids.len() else ""
        # Each series' first resource, then its names: the join goes over series, not over points.
        ident = pl.from_arrow(
            reader.sql(f"""
                SELECT CAST({self.number} AS UTINYINT) AS subset, series_id, UNNEST({_IDENTITY}) FROM (
                    SELECT series_id, arg_min(resource_id, "time") AS resource_id
                    FROM {self.points} WHERE {points_where(self.names, *bounds)}{only} GROUP BY series_id
                ) JOIN {RESOURCES_TABLE} USING (resource_id)""").to_arrow_table()
        )
        assert isinstance(ident, pl.DataFrame)
        self.owner.idents.append(ident.filter(pl.col("series_id").is_in(new.implode())))

    def _chunk(self, points: pl.DataFrame, low: int) -> None:
        """The intervals of one chunk's points (``low``: where the chunk starts, ns), summed into ``raw`` and
        their usage samples counted into ``sketches``. The intervals are made once, with only the columns
        both need: two lazy queries over them would each make them again."""
        intervals = counter_intervals if self.counter else gauge_intervals
        # A carried point's own interval was counted with the chunk it came from.
        found = intervals(points.lazy(), _previous_row).filter(pl.col("time") >= pl.lit(low).cast(pl.Datetime("ns")))
        clipped = (
            _clip(found, self.owner.period)
            .select("series_id", "code", "start", "end", "value", "seconds", "sample")
            .collect()
        )
        pieces = split_hours(clipped.lazy()).with_columns(
            hour_ns=pl.col("hour").dt.epoch("ns"), sampled=pl.when(pl.col("sample")).then(pl.col("value"))
        )  # the samples' values, null for the rest: their min and max per group without a filter in each
        sums = (
            _runs(pieces)
            .group_by("run")
            .agg(
                pl.col("series_id", "code", "hour_ns").first(),
                weighted=(pl.col("value") * pl.col("seconds")).sum(),
                seconds=pl.col("seconds").sum(),
                samples=pl.col("sample").sum().cast(pl.Int64),
                sample_min=pl.col("sampled").min(),
                sample_max=pl.col("sampled").max(),
            )
            .select(*self._keys(), "weighted", "seconds", "samples", "sample_min", "sample_max")
        )
        frames = [(self.owner.raw, sums.collect())]
        if self.owner.with_sketches:
            frames.append((self.owner.sketches, self._sketches(clipped)))
        for table, frame in frames:
            if not frame.is_empty():
                self.owner.insert(table, frame)

    def _keys(self) -> tuple[pl.Expr | str, ...]:
        """What a row of ``raw`` or ``sketches`` is per."""
        return (pl.lit(self.number, pl.UInt8).alias("subset"), "series_id", "code",
                pl.lit(self.counter).alias("counter"), "hour_ns")  # fmt: skip

    def _sketches(self, clipped: pl.DataFrame) -> pl.DataFrame:
        """The usage samples' counts per bucket, as lists in bucket order, per series, metric and the hour a
        sample's interval ends in (``metrics.split_hours``). A counter's rates fall in nearly as many buckets
        as there are samples, so rather than group by run and bucket the samples' keys (both in one integer)
        are sorted and counted as runs of equal keys: a quarter of the CPU. Eagerly: Polars' streaming
        engine fails on a lazy ``rle`` of a frame in several chunks."""
        samples = clipped.filter(pl.col("sample") & pl.col("code").is_in(USAGE_CODES)).select(
            "series_id",
            "code",
            hour_ns=ending_hour().dt.epoch("ns"),
            bucket=sketch.bucket(pl.col("value")),
        )
        keyed = _runs(samples).with_columns(
            key=pl.col("run").cast(pl.UInt64) * _KEYS_PER_RUN + (pl.col("bucket").cast(pl.Int32) - _LOWEST_BUCKET)
        )
        runs = keyed.filter(pl.col("run").ne_missing(pl.col("run").shift(1))).select(
            "run", "series_id", "code", "hour_ns"
        )
        counted = (
            keyed.select("key")
            .sort("key", multithreaded=False)
            .select(pl.col("key").rle())
            .unnest("key")
            .select(
                run=(pl.col("value") // _KEYS_PER_RUN).cast(pl.UInt32).set_sorted(),
                bucket=((pl.col("value") % _KEYS_PER_RUN).cast(pl.Int32) + _LOWEST_BUCKET).cast(pl.Int16),
                count=pl.col("len").cast(pl.Int64),
            )
        )
        return (
            counted.group_by("run")
            .agg(buckets="bucket", counts="count")
            .join(runs, on="run")
            .select(*self._keys(), "buckets", "counts")
        )


_LOWEST_BUCKET = -(2**15)
"""The smallest sketch bucket key (a SMALLINT)."""
_KEYS_PER_RUN = 2**16
"""How many bucket keys there are: a run's number times this, plus the bucket's offset, keys a count."""


def _runs(frame: Frame) -> Frame:
    """``frame`` with each run of rows of one series and hour numbered (``run``), sorted: grouped by that one
    number, rows come together in half the CPU of a group-by over the series, metric and hour they share.
    Rows sorted by series and time put a series' hour in one run; the pieces of an interval that crosses an
    hour follow the rest (``split_hours``), in runs of their own, whose sums ``raw`` adds up."""
    changed = (pl.col("series_id") != pl.col("series_id").shift(1)) | (pl.col("hour_ns") != pl.col("hour_ns").shift(1))
    return frame.with_columns(run=changed.fill_null(True).cum_sum().set_sorted())


__all__ = ["CHUNK_POINTS", "NAMES", "SUBSETS", "USAGE_CODES", "Pass", "code_sql", "name_sql", "ns", "points_where"]
