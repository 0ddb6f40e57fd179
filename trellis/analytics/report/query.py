"""How sections read: SQL literals, and the statements that remember when they reached the row limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from trellis.analytics.report.model import Reader, ReportTable


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_time(value: datetime) -> str:
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


class Query:
    """Runs the report's statements and remembers which ones reached the row limit."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.available = reader.tables()
        self.truncated: list[str] = []

    def frame(self, name: str, query: str) -> tuple[pl.DataFrame, bool]:
        frame = self.reader.sql(query)
        full = frame.height >= self.reader.row_limit
        if full:
            self.truncated.append(name)
        return frame, full

    def table(self, name: str, title: str, query: str, description: str = "", order: Any = None) -> ReportTable:
        frame, full = self.frame(name, query)
        shown = frame.sort(order, nulls_last=True) if order is not None and frame.height else None
        return ReportTable(name, title, frame, description, shown, full)


__all__ = ["Query", "sql_string", "sql_time"]
