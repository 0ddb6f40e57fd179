"""Where jobs read from: lazy scans of the store's tables, with filters pushed down into DuckDB."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import duckdb
import polars as pl


@dataclass(frozen=True)
class Period:
    """The half-open time range [start, end) a job covers."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"the period ends ({self.end:%Y-%m-%d}) before it starts ({self.start:%Y-%m-%d})")


Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def naive_utc(frame: Frame) -> Frame:
    """Every time column as naive UTC, the form jobs compute in: the store's times are TIMESTAMPTZ_NS and
    arrive in the session's zone (UTC on every connection Trellis opens)."""
    schema = frame.collect_schema()
    aware = [name for name, dtype in schema.items() if isinstance(dtype, pl.Datetime) and dtype.time_zone]
    if not aware:
        return frame
    return frame.with_columns(pl.col(aware).dt.convert_time_zone("UTC").dt.replace_time_zone(None))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class Sources:
    """Lazy frames over one DuckDB connection; only what a job collects leaves the database."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> None:
        """``prepare``: what a new connection of these sources needs first (``slices`` shadows tables on it)."""
        self.con, self._prepare = con, prepare
        self._tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """Another connection to the same database that reads what these sources read, for another thread."""
        cursor = self.con.cursor()
        if self._prepare is not None:
            self._prepare(cursor)
        return cursor

    def has(self, table: str) -> bool:
        return table in self._tables

    def scan(
        self,
        table: str,
        *,
        window: tuple[str, datetime | None, datetime | None] | None = None,
        derived: Mapping[str, str] | None = None,
    ) -> pl.LazyFrame:
        """A lazy scan of a table; Polars filters and projections are pushed into DuckDB.

        ``window=(column, start, end)`` keeps rows with ``start <= column < end`` (either bound may be None),
        filtered by DuckDB itself: Polars cannot push a comparison with a nanosecond timestamp down. Naive
        datetimes are UTC, also against TIMESTAMPTZ columns. ``derived`` adds columns computed by DuckDB from
        SQL expressions over the table's columns (``{"name": "resource_attributes['k8s.deployment.name']"}``),
        so a map lookup happens in the database and only its value leaves it.
        """
        if table not in self._tables:
            raise KeyError(f"table {table} does not exist in this database")
        relation = self.con.table(table)
        if window is not None:
            column, start, end = window
            with_zone = dict(zip(relation.columns, map(str, relation.types), strict=True)).get(column, "")
            aware = "WITH TIME ZONE" in with_zone
            for bound, op in ((start, ">="), (end, "<")):
                if bound is None:
                    continue
                value: Any = bound.replace(tzinfo=UTC) if aware and bound.tzinfo is None else bound
                expression = duckdb.ColumnExpression(column)
                constant = duckdb.ConstantExpression(value)
                relation = relation.filter(expression >= constant if op == ">=" else expression < constant)
        if derived:
            extra = ", ".join(f"{sql} AS {_quote(name)}" for name, sql in derived.items())
            relation = relation.project(f"*, {extra}")
        return naive_utc(relation.pl(lazy=True))

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run SQL in DuckDB and return the (already reduced) result as a DataFrame."""
        relation = self.con.sql(query, params=params) if params else self.con.sql(query)
        frame = pl.from_arrow(relation.to_arrow_table())
        assert isinstance(frame, pl.DataFrame)
        return naive_utc(frame)
