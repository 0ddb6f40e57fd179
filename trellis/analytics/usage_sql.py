"""Container usage for large stores: utilization's and cost's tables from one pass's partial sums.

``metrics.read_intervals`` turns every metric point of the period into an interval in one Polars frame,
with its subject's names on every row: hundreds of bytes a point, more than a large store's period fits in.
The utilization and cost jobs go through this module instead. ``usage_pass`` goes over the points once, a
chunk at a time, applying the same rules, and leaves partial sums per series, metric, source and hour in a
temporary DuckDB table; within one run of several jobs (``run_sources.RunSources``) that pass is made once
and both jobs use it. DuckDB then names the subjects, applies ``metrics._prefer``'s rules (they only ask
whether a subject has a counter, or a pod has containers, so they hold for sums as for intervals), and
computes what the jobs need: hourly allocation and idle time, totals, and the sample percentiles (from the
samples' ``sketch`` buckets, counted per series and hour).

The results equal the Polars pipeline's up to the order in which floating-point sums add up, and the
percentiles to within ``sketch.ACCURACY``; a test compares them on data chunked finely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime

import polars as pl

from trellis.analytics import rollups, sketch
from trellis.analytics.metrics import _KIND_OF, _RESOURCE_OF, SUBJECT, _prefer
from trellis.analytics.run_sources import holds, shared
from trellis.analytics.sources import Period, Sources
from trellis.analytics.usage_pass import NAMES, Pass, ns

USAGE = "usage"
"""The kind of shared work (``Job.shares``) this module's pass is: jobs that name it share one pass per run."""
KEYS = ["team", "workload", "environment", "container", "resource"]
"""The utilization job's groups."""
HOUR_NS = 3_600_000_000_000
HOURLY_ROWS = 2_000_000
"""Partial sums grouped into hours at a time (``_Builder.hourly``)."""
PERCENTILES = {"usage_p50": 0.5, "usage_p95": 0.95}


class _Builder:
    """The pass's partial sums, with the series ``metrics._prefer`` keeps (see ``usage``)."""

    def __init__(self, sources: Sources, period: Period, with_sketches: bool) -> None:
        self.sources, self.con, self.period = sources, sources.con, period
        self.start_ns, self.end_ns = ns(period.start), ns(period.end)
        self.points = Pass(sources, period, with_sketches)
        self.raw, self.sketches = self.points.raw, self.points.sketches
        self.idents: list[pl.DataFrame] = []
        self.chosen = self.raw.replace("trellis_raw_", "trellis_chosen_")
        self.rolled: list[datetime] = []
        """The hours whose partial sums are the rollups' (``fill``)."""

    def drop(self) -> None:
        self.points.drop()
        with suppress(Exception):
            self.con.unregister(self.chosen)

    def fill(self) -> bool:
        """The period's partial sums in ``raw`` (and sketches in ``sketches``): the hours the rollups cover
        read from them (those with sketches, when sketches are asked for), the rest from a pass over each
        part's points. False when there are none."""
        hours = rollups.covered(self.sources, self.period, sketched=self.points.with_sketches)
        if not hours:
            found = self.points.run()
            self.idents = self.points.idents
            return found
        self.points.create()
        self.rolled, self.idents = hours, [rollups.subjects(self.sources, hours)]
        for part in rollups.gaps(self.period, hours):
            rest = Pass(self.sources, part, self.points.with_sketches, into=(self.raw, self.sketches))
            rest.run()
            self.idents += rest.idents
        return any(not frame.is_empty() for frame in self.idents)

    def partial_sums(self, low: int | None = None, high: int | None = None, extremes: bool = False) -> str:
        """The partial sums, from the pass's ``raw`` table and the rollups, as a relation in SQL; those from
        ``low`` up to ``high`` (``hour_ns``) when given; with each hour's smallest and largest sample when
        ``extremes``."""
        columns = "subset, series_id, code, counter, hour_ns, weighted, seconds, samples"
        columns += ", sample_min, sample_max" if extremes else ""
        where = f" WHERE hour_ns >= {low} AND hour_ns < {high}" if low is not None else ""
        if not self.rolled:
            return f"(SELECT {columns} FROM {self.raw}{where})"
        rolled = rollups.rows_sql(self.rolled, low, high, columns)
        return f"(SELECT {columns} FROM {self.raw}{where} UNION ALL {rolled})"

    def sketch_counts(self) -> str:
        """The kept usage samples' sketch buckets and counts with their group (``group_no``), from the pass's
        ``sketches`` and the rollups, in SQL. Both hold lists, joined with the kept series first and unnested
        after, so that the join goes over series and hours, not buckets."""
        keys = "USING (subset, series_id, code, counter)"
        lists = f"SELECT subset, series_id, code, counter, buckets, counts FROM {self.sketches}"
        if self.rolled:
            lists += f" UNION ALL {rollups.sketch_sql(self.rolled)}"
        return f"""(SELECT group_no, unnest(buckets) AS bucket, unnest(counts) AS count
            FROM (SELECT c.group_no, s.buckets, s.counts FROM ({lists}) s JOIN {self.chosen} c {keys}))"""

    def by_days(self, query: Callable[[str], str]) -> pl.DataFrame:
        """``query`` over ``hourly_sql`` (the relation it is given), a few whole UTC days at a time: grouping
        millions of partial sums into (subject, hour) rows at once costs DuckDB about twice the CPU of
        grouping them in pieces whose hash tables stay small, and no piece is kept. The pieces' rows."""
        frames = [self.sources.sql(query(f"({self.hourly_sql(low, high)})")) for low, high in self._day_ranges()]
        kept = [frame for frame in frames if not frame.is_empty()] or frames[:1]
        return pl.concat(kept, how="vertical_relaxed") if kept else pl.DataFrame()

    def _day_ranges(self) -> list[tuple[int, int]]:
        """Ranges of whole UTC days (ns) of about HOURLY_ROWS partial sums each, that cover them all."""
        row = self.con.execute(f"SELECT count(*), min(hour_ns), max(hour_ns) FROM {self.partial_sums()}").fetchall()
        count, low, high = row[0]
        if not count:
            return []
        day = 24 * HOUR_NS
        first, days = low - low % day, high // day - low // day + 1
        step = max(1, days * HOURLY_ROWS // count) * day
        return [(start, start + step) for start in range(first, high + 1, step)]

    def choose(self) -> pl.DataFrame:
        """The (subset, series, metric, source) kept by ``metrics._prefer``, with their subject and group.

        The rules only ask whether a subject has counter intervals, or a pod containers, so applied to the
        distinct keys of the partial sums they keep exactly the sums of the intervals they would keep."""
        present = self.sources.sql(f"SELECT DISTINCT subset, series_id, code, counter FROM {self.partial_sums()}")
        ident = pl.concat(self.idents, how="vertical_relaxed").unique(["subset", "series_id"], keep="first")
        keys = present.join(ident, on=["subset", "series_id"], how="inner").with_columns(
            resource=pl.col("code").replace_strict(
                dict(enumerate(_RESOURCE_OF[n] for n in NAMES)), return_dtype=pl.String
            ),
            kind=pl.col("code").replace_strict(dict(enumerate(_KIND_OF[n] for n in NAMES)), return_dtype=pl.String),
            source=pl.when(pl.col("counter")).then(pl.lit("counter")).otherwise(pl.lit("gauge")),
        )
        chosen = _prefer(keys)
        subject = chosen.select(SUBJECT).unique(maintain_order=True).with_row_index("subject_no")
        group = chosen.select(KEYS).unique(maintain_order=True).with_row_index("group_no")
        chosen = chosen.join(subject, on=SUBJECT, nulls_equal=True).join(group, on=KEYS, nulls_equal=True)
        # Flags rather than names: DuckDB groups and filters the partial sums by them.
        self.con.register(self.chosen, chosen.select(
            "subset", "series_id", "code", "counter", "subject_no", "group_no", "resource", "kind",
            memory=pl.col("resource") == "memory", usage=pl.col("kind") == "usage",
        ).to_arrow())  # fmt: skip
        return chosen

    def hourly_sql(self, low: int | None = None, high: int | None = None) -> str:
        """``metrics.hourly`` over the partial sums: per subject number, resource and hour (those from ``low``
        up to ``high``, ns, when given)."""
        return f"""
            SELECT subject_no, CASE WHEN memory THEN 'memory' ELSE 'cpu' END AS resource, hour_ns, usage_avg,
                   request_avg, running_hours,
                   coalesce(greatest(request_avg, usage_avg), 0.0) * running_hours AS allocated_hours,
                   CASE WHEN request_avg IS NOT NULL AND usage_avg IS NOT NULL
                        THEN greatest(request_avg - usage_avg, 0.0) END * running_hours AS idle_hours,
                   request_avg * running_hours AS requested_hours
            FROM (
                SELECT *, CASE WHEN use_sec > 0 THEN use_int / use_sec END AS usage_avg,
                       CASE WHEN req_sec > 0 THEN req_int / req_sec END AS request_avg,
                       least(greatest(use_sec, req_sec), 3600.0) / 3600.0 AS running_hours
                FROM (
                    SELECT c.subject_no, c.memory, r.hour_ns,
                           coalesce(sum(r.weighted) FILTER (WHERE c.usage), 0.0) AS use_int,
                           coalesce(sum(r.seconds) FILTER (WHERE c.usage), 0.0) AS use_sec,
                           coalesce(sum(r.weighted) FILTER (WHERE NOT c.usage), 0.0) AS req_int,
                           coalesce(sum(r.seconds) FILTER (WHERE NOT c.usage), 0.0) AS req_sec
                    FROM {self.partial_sums(low, high)} r
                    JOIN {self.chosen} c USING (subset, series_id, code, counter)
                    GROUP BY ALL
                )
            )"""


def usage(
    sources: Sources, period: Period, with_sketches: bool = False
) -> AbstractContextManager[tuple[_Builder, pl.DataFrame] | None]:
    """The period's partial sums in DuckDB and the kept series with their subjects; None without metrics.

    ``raw`` (a temporary table): per subset, series, metric code, source and ``hour_ns`` (the hour an
    interval ends in, ns since the epoch): ``weighted`` (value x seconds), ``seconds``, ``samples``,
    ``sample_min``, ``sample_max``. With ``with_sketches`` the usage samples are counted into sketches too
    (``sketch_counts``). Within a run (``RunSources``) the pass is made once per period, with sketches when the
    first job asked for them.
    """
    richer = (USAGE, period, True)
    key = richer if with_sketches or holds(sources, richer) else (USAGE, period, False)
    return shared(sources, key, lambda: _usage(sources, period, key[2]))


@contextmanager
def _usage(sources: Sources, period: Period, with_sketches: bool) -> Iterator[tuple[_Builder, pl.DataFrame] | None]:
    builder = _Builder(sources, period, with_sketches)
    try:
        chosen = builder.choose() if builder.fill() else None
        # Points read only as the start of an interval that ends after them (a series that stopped just
        # before the period) name their series but make no partial sums.
        yield (builder, chosen) if chosen is not None and not chosen.is_empty() else None
    finally:
        builder.drop()


def utilization_totals(sources: Sources, period: Period) -> pl.DataFrame:
    """Per utilization group (KEYS): pods, samples, the time-weighted sums, the sample percentiles, and the
    idle and requested hours, the columns ``utilization.run`` computes from intervals."""
    with usage(sources, period, with_sketches=True) as found:
        if found is None:
            return pl.DataFrame()
        built, chosen = found
        per_subject = sources.sql(f"""
            SELECT c.subject_no, c.group_no, c.kind, sum(r.weighted) AS weighted, sum(r.seconds) AS seconds,
                   sum(r.samples) AS samples, min(r.sample_min) AS sample_min,
                   max(r.sample_max) AS sample_max
            FROM {built.partial_sums(extremes=True)} r JOIN {built.chosen} c USING (subset, series_id, code, counter)
            GROUP BY ALL""")
        idle = built.by_days(
            lambda hourly: (
                f"""SELECT subject_no, resource, sum(idle_hours) AS idle, sum(requested_hours) AS requested
                FROM {hourly} WHERE idle_hours IS NOT NULL GROUP BY ALL"""
            )
        )
        counts = sources.sql(f"SELECT group_no, bucket, sum(count)::BIGINT AS count FROM {built.sketch_counts()} "
                             "GROUP BY ALL")  # fmt: skip
    percentiles = sketch.quantiles(counts, "group_no", PERCENTILES)
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
            usage_min=pl.col("sample_min").filter(usage_).min(),
            usage_max=pl.col("sample_max").filter(usage_).max(),
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
        .with_columns(pl.col(*PERCENTILES).clip(pl.col("usage_min"), pl.col("usage_max")))  # exact at the ends
        .drop("group_no", "usage_min")
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
        per_subject = built.by_days(
            lambda hourly: (
                f"""
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
            FROM {hourly}
            GROUP BY ALL"""
            )
        )
    names = chosen.select("subject_no", "team", "workload", "environment").unique()
    amounts = ["cpu_core_hours", "memory_gib_hours", "cpu_cost", "memory_cost", "idle_cpu_cost", "idle_memory_cost"]
    return (
        per_subject.join(names, on="subject_no")
        .group_by("team", "workload", "environment", "day")
        .agg(pl.col(amounts).sum())
        .with_columns(pl.col("day").cast(pl.Datetime("us")))
    )


__all__ = ["USAGE", "cost_lines", "usage", "utilization_totals"]
