"""What the jobs share: documented output schemas, periods cut into weeks and months, medians and time zones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import polars as pl

from trellis.analytics.sources import Period, naive_utc

TS = pl.Datetime("us")
"""Every timestamp a job writes: microseconds, UTC, no time zone."""

Schema = Mapping[str, pl.DataType]


def empty(schema: Schema) -> pl.DataFrame:
    """A frame with no rows and the documented columns."""
    return pl.DataFrame(schema=dict(schema))


def conform(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """Exactly the documented columns, in their order and type; a missing column is all NULL."""
    if frame.is_empty():
        return empty(schema)
    return frame.select(
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in schema.items()
    )


def shaped(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """Exactly the schema's columns (which must all be there), cast to its types."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def utc_naive(frame: pl.LazyFrame, columns: Iterable[str]) -> pl.LazyFrame:
    """``columns`` as naive UTC nanoseconds (``naive_utc``, then cast)."""
    return naive_utc(frame).with_columns(pl.col(list(columns)).cast(pl.Datetime("ns")))


def in_environments(column: str, prefixes: Iterable[str]) -> pl.Expr:
    """True where the column starts with one of the prefixes (false for NULL)."""
    tests = [pl.col(column).str.starts_with(p) for p in prefixes if p]
    if not tests:
        return pl.lit(False)
    return pl.any_horizontal(tests).fill_null(False)


def any_equal(column: str, values: Iterable[str]) -> pl.Expr:
    """``column IN values`` written as ORs of equalities, the form DuckDB's Polars scan pushes down."""
    tests = [pl.col(column) == v for v in values]
    out = tests[0]
    for test in tests[1:]:
        out = out | test
    return out


def lower_median(expr: pl.Expr) -> pl.Expr:
    """The middle value, or the lower of the two middle ones (how DevLake takes its medians)."""
    return expr.quantile(0.5, "lower")


def _in_units(duration: pl.Expr, unit_us: int) -> pl.Expr:
    """A Duration in units of ``unit_us`` microseconds, exact for whole units (Polars turns a division by a
    constant into a multiplication by its inverse, which is not)."""
    us = duration.dt.total_microseconds()
    return (us // unit_us).cast(pl.Float64) + (us % unit_us).cast(pl.Float64) / float(unit_us)


def hours(duration: pl.Expr) -> pl.Expr:
    """A Duration as hours (float)."""
    return _in_units(duration, 3_600_000_000)


def seconds(duration: pl.Expr) -> pl.Expr:
    """A Duration as seconds (float)."""
    return _in_units(duration, 1_000_000)


def days_of(duration: pl.Expr) -> pl.Expr:
    """A Duration as days (float)."""
    return _in_units(duration, 86_400_000_000)


def week_start(ts: datetime) -> datetime:
    day = datetime(ts.year, ts.month, ts.day)
    return day - timedelta(days=day.weekday())


def month_start(ts: datetime) -> datetime:
    return datetime(ts.year, ts.month, 1)


def _next_month(ts: datetime) -> datetime:
    return datetime(ts.year + ts.month // 12, ts.month % 12 + 1, 1)


def _buckets(period: Period, first: datetime, step: object) -> list[tuple[datetime, datetime, bool]]:
    out = []
    start = first
    while start < period.end:
        end = start + step if isinstance(step, timedelta) else _next_month(start)
        whole = start >= period.start and end <= period.end
        out.append((max(start, period.start), min(end, period.end), whole))
        start = end
    return out


def weeks(period: Period) -> pl.DataFrame:
    """The Monday-to-Monday weeks that overlap the period, clipped to it; ``whole`` marks those inside it."""
    rows = _buckets(period, week_start(period.start), timedelta(days=7))
    return _bucket_frame(rows)


def days(period: Period) -> pl.DataFrame:
    """The UTC days that overlap the period, clipped to it."""
    first = datetime(period.start.year, period.start.month, period.start.day)
    return _bucket_frame(_buckets(period, first, timedelta(days=1)))


def months(period: Period) -> pl.DataFrame:
    """The calendar months that overlap the period, clipped to it; ``whole`` marks those inside it."""
    return _bucket_frame(_buckets(period, month_start(period.start), "month"))


def _bucket_frame(rows: list[tuple[datetime, datetime, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "bucket_start": [r[0] for r in rows],
            "bucket_end": [r[1] for r in rows],
            "whole": [r[2] for r in rows],
        },
        schema={"bucket_start": TS, "bucket_end": TS, "whole": pl.Boolean},
    )


def snapshots(period: Period) -> list[datetime]:
    """The moments a job looks at state: every Monday 00:00 inside the period, and the period's end."""
    out = [w for w in weeks(period)["bucket_end"].to_list() if w < period.end]
    return [*out, period.end]


def in_period(column: str, period: Period) -> pl.Expr:
    return (pl.col(column) >= period.start) & (pl.col(column) < period.end)


def band(value: pl.Expr, limits: tuple[float, float, float], inclusive: bool = False) -> pl.Expr:
    """elite/high/medium/low for a value where lower is better; NULL stays NULL."""
    elite, high, medium = limits

    def below(limit: float) -> pl.Expr:
        return value <= limit if inclusive else value < limit

    return (
        pl.when(value.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(below(elite))
        .then(pl.lit("elite"))
        .when(below(high))
        .then(pl.lit("high"))
        .when(below(medium))
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


__all__ = [
    "TS",
    "any_equal",
    "band",
    "conform",
    "days",
    "days_of",
    "empty",
    "hours",
    "in_environments",
    "in_period",
    "lower_median",
    "months",
    "seconds",
    "shaped",
    "snapshots",
    "utc_naive",
    "weeks",
]
