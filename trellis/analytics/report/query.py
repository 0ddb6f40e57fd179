"""How sections read: statements with bind parameters, remembering which ones reached the row limit.

A section writes ``$team``, ``$period_start`` or ``$period_end`` in its SQL and never pastes a value
into the text; ``Query`` binds the ones a statement names."""

from __future__ import annotations

from typing import Any

import polars as pl

from trellis.analytics.report.model import Reader, ReportTable
from trellis.collector import named_params


class Query:
    """Runs the report's statements and remembers which ones reached the row limit.

    ``values`` are what statements may name as ``$name``: the report's team and period."""

    def __init__(self, reader: Reader, values: dict[str, Any] | None = None) -> None:
        self.reader = reader
        self.values = values or {}
        self.available = reader.tables()
        self.truncated: list[str] = []

    def sql(self, query: str, **more: Any) -> pl.DataFrame:
        """One statement, its placeholders bound from the report's values and ``more``."""
        return self.reader.sql(query, named_params(query, {**self.values, **more}))

    def store_sql(self, query: str, **more: Any) -> pl.DataFrame:
        """One statement over the store's own tables (not the answers), bound like ``sql``."""
        return self.reader.store_sql(query, named_params(query, {**self.values, **more}))

    def frame(self, name: str, query: str) -> tuple[pl.DataFrame, bool]:
        frame = self.sql(query)
        full = frame.height >= self.reader.row_limit
        if full:
            self.truncated.append(name)
        return frame, full

    def table(self, name: str, title: str, query: str, description: str = "", order: Any = None) -> ReportTable:
        frame, full = self.frame(name, query)
        shown = frame.sort(order, nulls_last=True) if order is not None and frame.height else None
        return ReportTable(name, title, frame, description, shown, full)


__all__ = ["Query"]
