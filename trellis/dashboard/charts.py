"""Altair charts in one style: time on x, a measure on y, one colour per group; DORA bands in fixed colours."""

from __future__ import annotations

import altair as alt
import polars as pl

BAND_COLORS = {"elite": "#1a7f37", "high": "#57ab5a", "medium": "#d4a72c", "low": "#cf222e"}
BANDS = list(BAND_COLORS)
LEGEND = alt.Legend(orient="bottom", columns=3, labelLimit=240, title=None)
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
"""Fill the width; the height is the plot's own, so a long legend adds to it instead of squeezing the plot."""


def band_scale() -> alt.Scale:
    return alt.Scale(domain=BANDS, range=[BAND_COLORS[b] for b in BANDS])


def over_time(
    frame: pl.DataFrame, x: str, y: str, color: str | None, title: str, y_title: str, y_format: str = ",.2f"
) -> alt.Chart:
    """A line per group over time, with points and a tooltip."""
    encoding: dict[str, object] = {
        "x": alt.X(f"{x}:T", title=None),
        "y": alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=y_format)),
        "tooltip": [alt.Tooltip(f"{x}:T", title="from")]
        + ([alt.Tooltip(f"{color}:N")] if color else [])
        + [alt.Tooltip(f"{y}:Q", title=y_title, format=y_format)],
    }
    if color:
        encoding["color"] = alt.Color(f"{color}:N", title=None, legend=LEGEND)
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=True)
        .encode(**encoding)
        .properties(height=260, autosize=FIT_WIDTH)
    )


def bars(
    frame: pl.DataFrame, category: str, value: str, title: str, value_title: str, color: str | None = None,
    value_format: str = ",.2f",
) -> alt.Chart:  # fmt: skip
    """Horizontal bars, largest first; stacked by ``color`` when given."""
    encoding: dict[str, object] = {
        "y": alt.Y(f"{category}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        "x": alt.X(f"sum({value}):Q", title=value_title, axis=alt.Axis(format=value_format)),
        "tooltip": [alt.Tooltip(f"{category}:N")]
        + ([alt.Tooltip(f"{color}:N")] if color else [])
        + [alt.Tooltip(f"sum({value}):Q", title=value_title, format=value_format)],
    }
    if color:
        encoding["color"] = alt.Color(f"{color}:N", title=None, legend=LEGEND)
    return (
        alt.Chart(frame, title=title).mark_bar().encode(**encoding).properties(height=alt.Step(22), autosize=FIT_WIDTH)
    )


def stacked_area(frame: pl.DataFrame, x: str, y: str, color: str, title: str, y_title: str) -> alt.Chart:
    return (
        alt.Chart(frame, title=title)
        .mark_area(opacity=0.85)
        .encode(
            x=alt.X(f"{x}:T", title=None),
            y=alt.Y(f"{y}:Q", title=y_title, stack=True),
            color=alt.Color(f"{color}:N", title=None, legend=LEGEND),
            tooltip=[alt.Tooltip(f"{x}:T"), alt.Tooltip(f"{color}:N"), alt.Tooltip(f"{y}:Q", format=",.0f")],
        )
        .properties(height=260, autosize=FIT_WIDTH)
    )


def auto(frame: pl.DataFrame) -> alt.Chart | None:
    """A sensible chart for any query result: a time or text column against the first numeric one."""
    numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
    temporal = [c for c, t in frame.schema.items() if t.is_temporal()]
    text = [c for c, t in frame.schema.items() if t == pl.String]
    if not numeric or frame.height == 0:
        return None
    y = numeric[0]
    if temporal:
        color = text[0] if text and frame[text[0]].n_unique() <= 20 else None
        return over_time(frame.head(5000), temporal[0], y, color, f"{y} over {temporal[0]}", y)
    if text:
        return bars(frame.head(200), text[0], y, f"{y} by {text[0]}", y)
    return None


__all__ = ["BAND_COLORS", "auto", "band_scale", "bars", "over_time", "stacked_area"]
