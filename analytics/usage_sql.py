"""Container usage for large stores: the rules of ``analytics.metrics``, a chunk of points at a time.

``metrics.read_intervals`` turns every metric point of the period into an interval in one Polars frame,
with its subject's names on every row: hundreds of bytes a point, more than a large store's period fits in.
The utilization and cost jobs go through this module instead, which applies the same rules
(``metrics.counter_intervals``, ``gauge_intervals`` and ``_clip``, called as they are) in pieces:

- A series' subject (team, workload, environment, namespace, pod, container) is read once per series: the
  collector's ``series_id`` hashes the resource those names come from (``collector.rows.series_key``).
- Points travel as numbers only (series, metric, times, value), a time chunk at a time, each with the last
  earlier point of every series so that the first interval of a chunk has its start.
- Each chunk's intervals are summed per series, metric, source and hour (*partials*: value x seconds,
  seconds, samples) into a temporary DuckDB table; the counter's usage samples (rates) go to another.
- DuckDB then names the subjects, applies ``metrics._prefer``'s rules (they only ask whether a subject has
  a counter, or a pod has containers, so they hold for sums as for intervals), and computes what the jobs
  need: hourly allocation and idle time, totals, and the sample percentiles (a gauge's samples are its
  points inside the period, read from the table).

The results equal the Polars pipeline's up to the order in which floating-point sums add up; a test compares
them on data chunked finely.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta

import polars as pl

from analytics.metrics import (
    _DERIVED,
    _KIND_OF,
    _RESOURCE_OF,
    CPU_REQUEST,
    CPU_TIME,
    CPU_USAGE,
    END_SLACK,
    LOOKBACK,
    MEMORY_REQUEST,
    MEMORY_USAGE,
    SUBJECT,
    _clip,
    _prefer,
    counter_intervals,
    gauge_intervals,
)
from analytics.sources import Period, Sources

KEYS = ["team", "workload", "environment", "container", "resource"]
"""The utilization job's groups."""
HOUR_NS = 3_600_000_000_000
_EPOCH = datetime(1970, 1, 1)
CHUNK_POINTS = 2_000_000
"""Points turned into intervals at a time."""
SAMPLE_BYTES = 100
"""What DuckDB holds per usage sample while it computes percentiles (measured: 30 million in 3 GB)."""
SAMPLES_PER_BATCH: int | None = None
"""Usage samples whose percentiles DuckDB computes at a time; None: as many as its memory limit allows."""
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip


def _memory_limit(con: object) -> int | None:
    """DuckDB's memory_limit in bytes (None when it cannot be read)."""
    try:
        text = str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])  # type: ignore[attr-defined]
    except Exception:  # an old DuckDB or an unusual connection: no limit known
        return None
    number = text.upper().rstrip("BI KMGT")
    unit = text.upper()[len(number) :].replace(" ", "")
    try:
        return int(float(number) * _UNITS[unit])
    except (KeyError, ValueError):
        return None


def samples_per_batch(con: object) -> int:
    if SAMPLES_PER_BATCH is not None:
        return SAMPLES_PER_BATCH
    limit = _memory_limit(con)
    return max(1_000_000, (limit or 3 * 2**30) * 3 // 4 // SAMPLE_BYTES)


_NAMES = CPU_TIME + CPU_USAGE + CPU_REQUEST + MEMORY_USAGE + MEMORY_REQUEST
"""Every metric read; a point carries its metric as the position in this tuple."""
_SUBSETS = (
    ("counter", "otel_metrics_sum", CPU_TIME),
    ("sum_gauge", "otel_metrics_sum", CPU_REQUEST + MEMORY_REQUEST + MEMORY_USAGE),
    ("gauge", "otel_metrics_gauge", CPU_USAGE + CPU_REQUEST + MEMORY_REQUEST + MEMORY_USAGE),
)
"""The sets of points ``metrics.read_intervals`` shifts over ``series_id`` separately, and where they are."""
_SUBJECT = ", ".join(SUBJECT)
_IDENTITY = f"""{{
    'team': coalesce(service_namespace, k8s_namespace_name),
    'workload': coalesce(service_name, {_DERIVED["k8s_workload"]}, k8s_pod_name),
    'environment': deployment_environment_name,
    'k8s_namespace': k8s_namespace_name,
    'pod': k8s_pod_name,
    'container': k8s_container_name}}"""


def _ns(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _names(names: tuple[str, ...]) -> str:
    return ", ".join("'" + n.replace("'", "''") + "'" for n in names)


def _code(names: tuple[str, ...]) -> str:
    """The metric's position in _NAMES, in SQL."""
    whens = " ".join(f"WHEN '{n}' THEN {_NAMES.index(n)}" for n in names)
    return f"CAST(CASE metric_name {whens} END AS UTINYINT)"


def _by_code(mapping: dict[str, str]) -> str:
    """resource or kind of a metric code, in SQL."""
    whens = " ".join(f"WHEN {i} THEN '{mapping[n]}'" for i, n in enumerate(_NAMES))
    return f"CASE code {whens} END"


class _Builder:
    """Turns the period's points into partial sums in temporary tables (see ``usage``)."""

    def __init__(self, sources: Sources, period: Period, with_samples: bool) -> None:
        self.sources, self.con, self.period = sources, sources.con, period
        self.start_ns, self.end_ns = _ns(period.start), _ns(period.end)
        self.low, self.high = _ns(period.start - LOOKBACK), _ns(period.end + END_SLACK)
        self.with_samples = with_samples
        tag = uuid.uuid4().hex
        self.raw, self.samples = f"trellis_raw_{tag}", f"trellis_samples_{tag}"
        self.chosen, self.staged = f"trellis_chosen_{tag}", f"trellis_staged_{tag}"
        self.idents: list[pl.DataFrame] = []

    def drop(self) -> None:
        for table in (self.raw, self.samples):
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
        for view in (self.chosen, self.staged):
            with suppress(Exception):
                self.con.unregister(view)

    def _where(self, names: tuple[str, ...], low: int, high: int) -> str:
        return (
            f'"time" >= make_timestamp_ns({low}) AND "time" < make_timestamp_ns({high}) '
            f"AND metric_name IN ({_names(names)}) AND value IS NOT NULL"
        )

    def build(self) -> bool:
        """Fill ``raw`` and ``samples`` and read each series' subject; False when there are no points."""
        con = self.con
        con.execute(
            f"CREATE TEMP TABLE {self.raw} (subset UTINYINT, series_id UBIGINT, code UTINYINT, counter BOOLEAN, "
            "hour_ns BIGINT, weighted DOUBLE, seconds DOUBLE, samples BIGINT)"
        )
        con.execute(f"CREATE TEMP TABLE {self.samples} (series_id UBIGINT, code UTINYINT, value DOUBLE)")
        for number, (subset, table, names) in enumerate(_SUBSETS):
            if not self.sources.has(table):
                continue
            where = self._where(names, self.low, self.high)
            ident = self.sources.sql(f"""
                SELECT CAST({number} AS UTINYINT) AS subset, series_id, UNNEST(arg_min({_IDENTITY}, "time"))
                FROM {table} WHERE {where} GROUP BY series_id""")
            if ident.is_empty():
                continue
            self.idents.append(ident)
            row = con.execute(
                f'SELECT count(*), min(epoch_ns("time")), max(epoch_ns("time")) FROM {table} WHERE {where}'
            ).fetchall()[0]
            count, first, last = int(row[0]), int(row[1]), int(row[2])
            step = -(-(last + 1 - first) // max(1, -(-count // CHUNK_POINTS)))
            ranges = [(low, min(low + step, last + 1)) for low in range(first, last + 1, step)]
            self._chunks(number, subset == "counter", table, names, ranges)
        return bool(self.idents)

    def _chunks(
        self, number: int, counter: bool, table: str, names: tuple[str, ...], ranges: list[tuple[int, int]]
    ) -> None:
        """Every chunk of one subset in time order; DuckDB reads the next chunk (on a cursor of its own)
        while Polars turns the current one into intervals, so that both cores work."""
        temporality = "aggregation_temporality" if counter else "NULL"
        reader = self.con.cursor()

        def fetch(bounds: tuple[int, int]) -> pl.DataFrame:
            arrow = reader.sql(f"""
                SELECT series_id, {_code(names)} AS code, start_time, "time", value,
                       CAST({temporality} AS TINYINT) AS aggregation_temporality, false AS carried
                FROM {table} WHERE {self._where(names, *bounds)}""").to_arrow_table()
            frame = pl.from_arrow(arrow)
            assert isinstance(frame, pl.DataFrame)
            return frame

        carry: pl.DataFrame | None = None
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                upcoming = pool.submit(fetch, ranges[0])
                for index in range(len(ranges)):
                    points = upcoming.result()
                    if index + 1 < len(ranges):
                        upcoming = pool.submit(fetch, ranges[index + 1])
                    carry = self._chunk(number, counter, points, carry)
        finally:
            reader.close()

    def _chunk(self, number: int, counter: bool, points: pl.DataFrame, carry: pl.DataFrame | None) -> pl.DataFrame:
        """The intervals of one chunk's points, summed into ``raw``; returns each series' last point."""
        if carry is not None and carry.height:
            points = pl.concat([carry, points], how="vertical_relaxed")
        points = points.sort("series_id", "time")
        last = points.filter(pl.col("series_id").is_last_distinct()).with_columns(carried=pl.lit(True))
        intervals = counter_intervals(points) if counter else gauge_intervals(points)
        intervals = intervals.filter(~pl.col("carried"))
        if not intervals.is_empty():
            clipped = _clip(intervals, self.period)
            sums = clipped.group_by(
                "series_id",
                "code",
                hour_ns=(pl.col("end") - timedelta(microseconds=1)).dt.truncate("1h").dt.epoch("ns"),
            ).agg(
                weighted=(pl.col("value") * pl.col("seconds")).sum(),
                seconds=pl.col("seconds").sum(),
                samples=pl.col("sample").sum().cast(pl.Int64),
            )
            self._insert(
                self.raw,
                sums.select(pl.lit(number, pl.UInt8).alias("subset"), "series_id", "code",
                            pl.lit(counter).alias("counter"), "hour_ns", "weighted", "seconds", "samples"),
            )  # fmt: skip
            if counter and self.with_samples:
                self._insert(self.samples, clipped.filter(pl.col("sample")).select("series_id", "code", "value"))
        return last.select(points.columns)

    def _insert(self, table: str, frame: pl.DataFrame) -> None:
        self.con.register(self.staged, frame.to_arrow())
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM {self.staged}")
        finally:
            self.con.unregister(self.staged)

    def choose(self) -> pl.DataFrame:
        """The (subset, series, metric, source) kept by ``metrics._prefer``, with their subject and group.

        The rules only ask whether a subject has counter intervals, or a pod containers, so applied to the
        distinct keys of the partial sums they keep exactly the sums of the intervals they would keep."""
        present = self.sources.sql(f"SELECT DISTINCT subset, series_id, code, counter FROM {self.raw}")
        ident = pl.concat(self.idents, how="vertical_relaxed")
        keys = present.join(ident, on=["subset", "series_id"], how="inner").with_columns(
            resource=pl.col("code").replace_strict(
                dict(enumerate(_RESOURCE_OF[n] for n in _NAMES)), return_dtype=pl.String
            ),
            kind=pl.col("code").replace_strict(dict(enumerate(_KIND_OF[n] for n in _NAMES)), return_dtype=pl.String),
            source=pl.when(pl.col("counter")).then(pl.lit("counter")).otherwise(pl.lit("gauge")),
        )
        chosen = _prefer(keys)
        subject = chosen.select(SUBJECT).unique(maintain_order=True).with_row_index("subject_no")
        group = chosen.select(KEYS).unique(maintain_order=True).with_row_index("group_no")
        chosen = chosen.join(subject, on=SUBJECT, nulls_equal=True).join(group, on=KEYS, nulls_equal=True)
        self.con.register(self.chosen, chosen.select(
            "subset", "series_id", "code", "counter", "subject_no", "group_no", "resource", "kind"
        ).to_arrow())  # fmt: skip
        return chosen

    def hourly_sql(self) -> str:
        """``metrics.hourly`` over the partial sums: per subject number, resource and hour."""
        return f"""
            SELECT subject_no, resource, hour_ns, usage_avg, request_avg, running_hours,
                   coalesce(greatest(request_avg, usage_avg), 0.0) * running_hours AS allocated_hours,
                   CASE WHEN request_avg IS NOT NULL AND usage_avg IS NOT NULL
                        THEN greatest(request_avg - usage_avg, 0.0) END * running_hours AS idle_hours,
                   request_avg * running_hours AS requested_hours
            FROM (
                SELECT *, CASE WHEN use_sec > 0 THEN use_int / use_sec END AS usage_avg,
                       CASE WHEN req_sec > 0 THEN req_int / req_sec END AS request_avg,
                       least(greatest(use_sec, req_sec), 3600.0) / 3600.0 AS running_hours
                FROM (
                    SELECT c.subject_no, c.resource, r.hour_ns,
                           coalesce(sum(r.weighted) FILTER (WHERE c.kind = 'usage'), 0.0) AS use_int,
                           coalesce(sum(r.seconds) FILTER (WHERE c.kind = 'usage'), 0.0) AS use_sec,
                           coalesce(sum(r.weighted) FILTER (WHERE c.kind = 'request'), 0.0) AS req_int,
                           coalesce(sum(r.seconds) FILTER (WHERE c.kind = 'request'), 0.0) AS req_sec
                    FROM {self.raw} r JOIN {self.chosen} c USING (subset, series_id, code, counter)
                    GROUP BY ALL
                )
            )"""

    def samples_sql(self) -> str:
        """Every kept usage sample with its group: the counter's rates, and gauge points inside the period."""
        parts = [f"SELECT 0::UTINYINT AS subset, series_id, code, true AS counter, value FROM {self.samples}"]
        for number, (subset, table, names) in enumerate(_SUBSETS):
            usage = tuple(n for n in names if _KIND_OF[n] == "usage")
            if subset == "counter" or not usage or not self.sources.has(table):
                continue
            parts.append(
                f"SELECT {number}::UTINYINT AS subset, series_id, {_code(usage)} AS code, false AS counter, value "
                f"FROM {table} WHERE {self._where(usage, self.start_ns + 1, self.end_ns + 1)}"
            )
        return f"""
            SELECT c.group_no, s.value
            FROM ({" UNION ALL ".join(parts)}) s
            JOIN {self.chosen} c USING (subset, series_id, code, counter)"""


@contextmanager
def usage(
    sources: Sources, period: Period, with_samples: bool = False
) -> Iterator[tuple[_Builder, pl.DataFrame] | None]:
    """The period's partial sums in DuckDB and the kept series with their subjects; None without metrics.

    ``raw`` (a temporary table): per subset, series, metric code, source and ``hour_ns`` (the hour an
    interval ends in, ns since the epoch): ``weighted`` (value x seconds), ``seconds``, ``samples``. With
    ``with_samples`` the counter's usage samples are kept too, for ``samples_sql``.
    """
    builder = _Builder(sources, period, with_samples)
    try:
        if not builder.build():
            yield None
            return
        chosen = builder.choose()
        yield builder, chosen
    finally:
        builder.drop()


def utilization_totals(sources: Sources, period: Period) -> pl.DataFrame:
    """Per utilization group (KEYS): pods, samples, the time-weighted sums, the sample percentiles, and the
    idle and requested hours, the columns ``utilization.run`` computes from intervals."""
    with usage(sources, period, with_samples=True) as found:
        if found is None:
            return pl.DataFrame()
        built, chosen = found
        per_subject = sources.sql(f"""
            SELECT c.subject_no, c.group_no, c.kind, sum(r.weighted) AS weighted, sum(r.seconds) AS seconds,
                   sum(r.samples) AS samples
            FROM {built.raw} r JOIN {built.chosen} c USING (subset, series_id, code, counter)
            GROUP BY ALL""")
        idle = sources.sql(f"""
            SELECT subject_no, resource, sum(idle_hours) AS idle, sum(requested_hours) AS requested
            FROM ({built.hourly_sql()}) WHERE idle_hours IS NOT NULL GROUP BY ALL""")
        # A percentile holds every sample of its group in memory: batches of groups keep that bounded.
        count = int(sources.sql(f"SELECT count(*) AS n FROM ({built.samples_sql()})")["n"][0])
        batches = max(1, -(-count // samples_per_batch(sources.con)))
        percentiles = pl.concat(
            [
                sources.sql(f"""
                    SELECT group_no, quantile_cont(value, 0.5) AS usage_p50, quantile_cont(value, 0.95) AS usage_p95,
                           max(value) AS usage_max
                    FROM ({built.samples_sql()}) WHERE group_no % {batches} = {batch} GROUP BY group_no""")
                for batch in range(batches)
            ],
            how="vertical_relaxed",
        )
    subjects = chosen.select("subject_no", "group_no", *SUBJECT, "resource").unique()
    usage_, request = pl.col("kind") == "usage", pl.col("kind") == "request"
    totals = (
        per_subject.join(subjects.select("subject_no", "group_no", "pod").unique(), on=["subject_no", "group_no"])
        .group_by("group_no")
        .agg(
            pods=pl.col("pod").n_unique(),
            samples=pl.col("samples").filter(usage_).sum(),
            usage_int=pl.col("weighted").filter(usage_).sum(),
            usage_sec=pl.col("seconds").filter(usage_).sum(),
            request_int=pl.col("weighted").filter(request).sum(),
            request_sec=pl.col("seconds").filter(request).sum(),
        )
    )
    idle = (
        idle.join(subjects, on=["subject_no", "resource"])
        .group_by("group_no")
        .agg(pl.col("idle").sum(), pl.col("requested").sum())
    )
    names = chosen.select("group_no", *KEYS).unique()
    return (
        totals.join(names, on="group_no")
        .join(percentiles, on="group_no", how="left")
        .join(idle, on="group_no", how="left")
        .drop("group_no")
    )


def cost_lines(sources: Sources, period: Period, cpu_price: float, memory_price: float, gib: float) -> pl.DataFrame:
    """``cost._containers`` summed per team, workload, environment and UTC day."""
    with usage(sources, period) as found:
        if found is None:
            return pl.DataFrame()
        built, chosen = found
        day_ns = 24 * HOUR_NS
        cpu, memory = "resource = 'cpu'", "resource = 'memory'"
        idle = "coalesce(idle_hours, 0.0)"
        per_subject = sources.sql(f"""
            SELECT subject_no,
                   make_timestamp(CAST((hour_ns - (((hour_ns % {day_ns}) + {day_ns}) % {day_ns})) // 1000 AS BIGINT))
                       AS day,
                   sum(CASE WHEN {cpu} THEN allocated_hours ELSE 0.0 END) AS cpu_core_hours,
                   sum(CASE WHEN {memory} THEN allocated_hours / {gib!r} ELSE 0.0 END) AS memory_gib_hours,
                   sum(CASE WHEN {cpu} THEN allocated_hours * {cpu_price!r} ELSE 0.0 END) AS cpu_cost,
                   sum(CASE WHEN {memory} THEN allocated_hours / {gib!r} * {memory_price!r} ELSE 0.0 END)
                       AS memory_cost,
                   sum(CASE WHEN {cpu} THEN {idle} * {cpu_price!r} ELSE 0.0 END) AS idle_cpu_cost,
                   sum(CASE WHEN {memory} THEN {idle} / {gib!r} * {memory_price!r} ELSE 0.0 END) AS idle_memory_cost
            FROM ({built.hourly_sql()})
            GROUP BY ALL""")
    names = chosen.select("subject_no", "team", "workload", "environment").unique()
    amounts = ["cpu_core_hours", "memory_gib_hours", "cpu_cost", "memory_cost", "idle_cpu_cost", "idle_memory_cost"]
    return (
        per_subject.join(names, on="subject_no")
        .group_by("team", "workload", "environment", "day")
        .agg(pl.col(amounts).sum())
        .with_columns(pl.col("day").cast(pl.Datetime("us")))
    )


__all__ = ["CHUNK_POINTS", "cost_lines", "usage", "utilization_totals"]
