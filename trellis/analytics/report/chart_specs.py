"""The report's charts as Vega-Lite specs with their data inline, so that every format draws the same chart.

A chart draws at most CHART_SERIES teams or definitions (the largest ones) and says so in its subtitle.
``chart_rendering`` turns the specs into images and the HTML report's script.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from trellis.analytics.report.model import Chart

CHART_SERIES = 10
"""Teams or definitions a chart draws at most (the largest ones)."""
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
"""Names the Vega-Lite version of the specs; nothing fetches it."""


def _values(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: dates and times as ISO text (a date alone, midnight, reads as UTC)."""
    out = []
    for row in frame.to_dicts():
        out.append({k: _json_value(v) for k, v in row.items()})
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value == datetime(value.year, value.month, value.day):
            return value.strftime("%Y-%m-%d")
        return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value != value:
        return None
    return value


def chart_spec(title: str, frame: pl.DataFrame, body: dict[str, Any], subtitle: str | None = None) -> dict[str, Any]:
    """A whole spec: ``body`` (mark and encoding) with the title, the size, the data and the look."""
    heading: dict[str, Any] = {"text": title}
    if subtitle:
        heading["subtitle"] = subtitle
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": heading,
        "width": 640,
        "height": 260,
        "data": {"values": _values(frame)},
        **body,
        "config": {"font": "sans-serif", "legend": {"labelLimit": 180}},
    }


def time_axis(field_name: str, title: str) -> dict[str, Any]:
    return {"field": field_name, "type": "temporal", "timeUnit": "utcyearmonthdate", "title": title}


def _largest(frame: pl.DataFrame, key: str, weight: str, n: int = CHART_SERIES) -> tuple[pl.DataFrame, str | None]:
    """The rows of the n keys with the largest total weight, and a subtitle saying so when some were left out."""
    totals = frame.group_by(key).agg(pl.col(weight).sum()).sort([weight, key], descending=[True, False])
    if totals.height <= n:
        return frame, None
    keep = totals.head(n)[key]
    return frame.filter(pl.col(key).is_in(keep.implode())), f"the {n} largest of {totals.height} by {weight}"


def line_chart(
    name: str, title: str, frame: pl.DataFrame, x: str, y: str, color: str, y_title: str, y_format: str | None = None
) -> Chart:
    frame, subtitle = _largest(frame, color, y)
    y_enc: dict[str, Any] = {"field": y, "type": "quantitative", "title": y_title}
    if y_format:
        y_enc["axis"] = {"format": y_format}
    body = {
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": time_axis(x, "week" if "week" in name else "date"),
            "y": y_enc,
            "color": {"field": color, "type": "nominal", "title": color},
            "tooltip": [
                {"field": color, "type": "nominal"},
                time_axis(x, x),
                {"field": y, "type": "quantitative", "format": y_format or ",.2f"},
            ],
        },
    }
    return Chart(name, title, chart_spec(title, frame, body, subtitle))


def bar_chart(
    name: str, title: str, frame: pl.DataFrame, category: str, parts: list[str], x_title: str, fmt: str = ",.2f"
) -> Chart:
    """Horizontal stacked bars: one bar per category, one segment per column of ``parts``."""
    frame = frame.with_columns(_total=pl.sum_horizontal(parts))
    frame, subtitle = _largest(frame, category, "_total")
    long = frame.unpivot(index=category, on=parts, variable_name="part", value_name="amount")
    body = {
        "mark": "bar",
        "encoding": {
            "y": {"field": category, "type": "nominal", "sort": "-x", "title": category},
            "x": {"field": "amount", "type": "quantitative", "title": x_title, "stack": "zero"},
            "color": {"field": "part", "type": "nominal", "title": None, "sort": parts},
            "tooltip": [
                {"field": category, "type": "nominal"},
                {"field": "part", "type": "nominal"},
                {"field": "amount", "type": "quantitative", "format": fmt},
            ],
        },
    }
    spec = chart_spec(title, long, body, subtitle)
    spec["height"] = {"step": 18}
    return Chart(name, title, spec)


__all__ = ["CHART_SERIES", "VEGA_LITE_SCHEMA", "bar_chart", "chart_spec", "line_chart", "time_axis"]
