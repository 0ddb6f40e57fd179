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


_BYTES = ("usage_avg", "usage_p50", "usage_p95", "usage_max", "request_avg", "recommended_request",
          "recommended_change")  # fmt: skip
"""Columns that hold bytes in a row whose ``unit`` is ``bytes`` (utilization's memory rows)."""
_BYTE_HOURS = ("usage_hours", "request_hours")
_BINARY = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def format_bytes(value: float, per: str = "") -> str:
    """Bytes as a person reads them: '1.5 GiB', '512.0 MiB' (``per``: '·h' for byte-hours)."""
    for name, size in _BINARY:
        if abs(value) >= size:
            return f"{value / size:,.1f} {name}{per}"
    return f"{value:,.0f} B{per}"


def format_cell(column: str, value: Any, unit: Any = None) -> str:
    """``format_value``, with memory in GiB, MiB... in a row whose unit is bytes."""
    if unit == "bytes" and isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        if column in _BYTES:
            return format_bytes(float(value))
        if column in _BYTE_HOURS:
            return format_bytes(float(value), "·h")
    return format_value(column, value)


def display_rows(table: ReportTable) -> tuple[list[str], list[list[str]]]:
    """The columns and the formatted cells of the rows a document shows."""
    frame = table.display
    columns = frame.columns
    units = frame["unit"].to_list() if "unit" in columns else [None] * frame.height
    rows = [
        [format_cell(c, v, unit) for c, v in zip(columns, row, strict=True)]
        for row, unit in zip(frame.iter_rows(), units, strict=True)
    ]
    return columns, rows


__all__ = ["count_label", "display_rows", "format_bytes", "format_cell", "format_value"]
