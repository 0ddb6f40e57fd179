"""Values as a person reads them, shared by the document formats (HTML, Markdown, PDF) and the summaries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trellis.analytics.report.model import ReportTable, moment

_PERCENT = ("_share", "_rate", "usage_to_request", "share_on_active", "share_of_consumers")


def count_label(n: int, noun: str) -> str:
    """'1 team', '1,200 teams'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def format_value(column: str, value: Any) -> str:
    """A cell as a person reads it: shares as percentages, times to the minute, big numbers grouped."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return moment(value) if value.second == 0 and value.microsecond == 0 else value.isoformat(sep=" ")
    if isinstance(value, float):
        if column.endswith(_PERCENT):
            return f"{value:.1%}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if value == int(value):
            return f"{int(value):,}"
        if abs(value) >= 10:
            return f"{value:,.1f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def display_rows(table: ReportTable) -> tuple[list[str], list[list[str]]]:
    """The columns and the formatted cells of the rows a document shows."""
    frame = table.display
    columns = frame.columns
    rows = [[format_value(c, v) for c, v in zip(columns, row, strict=True)] for row in frame.iter_rows()]
    return columns, rows


__all__ = ["count_label", "display_rows", "format_value"]
