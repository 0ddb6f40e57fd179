"""Altair charts in one style: time on x, a measure on y, one colour per group; DORA bands and version
states in fixed colours; at most MOST_SERIES groups in a legend, the rest summed as one."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

BAND_COLORS = {"elite": "#1a7f37", "high": "#57ab5a", "medium": "#d4a72c", "low": "#cf222e"}
BANDS = list(BAND_COLORS)
VERSION_COLORS = {"active version": "#1a7f37", "older version": "#d4a72c", "newer version": "#8250df"}
"""The active version is always this green, whatever its number, on every chart that shows versions."""
SINGLE = "#4c78a8"
"""A chart's colour when it has one group."""
MOST_SERIES = 8
"""Groups a stacked chart's legend names; the others are summed as one group."""
LEGEND = alt.Legend(orient="bottom", columns=3, labelLimit=240, title=None)
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
"""Fill the width; the height is the plot's own, so a long legend adds to it instead of squeezing the plot."""


VALIDATE = False
"""Whether ``show`` checks each spec against Vega-Lite's JSON schema. The check cost 30 to 50 ms a chart on
every run, more than building the chart, and 0.3 s more the first time (loading the schema); the tests turn
it on (tests/dashboard/conftest.py), so every chart the pages draw there is checked."""


class _Drawn:
    """A chart as ``st.altair_chart`` takes it (it only asks for ``to_dict()``), validated when ``VALIDATE``."""

    def __init__(self, chart: alt.TopLevelMixin) -> None:
        self.chart = chart

    def to_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        spec: dict[str, Any] = self.chart.to_dict(*args, **{**kwargs, "validate": VALIDATE})
        return spec


def show(where: Any, chart: alt.TopLevelMixin, **options: Any) -> None:
    """Draw ``chart`` in ``where`` (``st``, a column, a tab) as ``where.altair_chart`` does, with its ``options``
    (``width="stretch"``), its spec validated only when ``VALIDATE``. Pages draw every chart through here."""
    where.altair_chart(_Drawn(chart), **options)


def band_scale() -> alt.Scale:
    return alt.Scale(domain=BANDS, range=[BAND_COLORS[b] for b in BANDS])


def version_scale() -> alt.Scale:
    return alt.Scale(domain=list(VERSION_COLORS), range=list(VERSION_COLORS.values()))


def version_state(version: pl.Expr, active: pl.Expr) -> pl.Expr:
    """``active version``, ``older version`` or ``newer version``: what a version's colour says."""
    return (
        pl.when(version == active)
        .then(pl.lit("active version"))
        .when(version > active)
        .then(pl.lit("newer version"))
        .otherwise(pl.lit("older version"))
    )


def top_series(frame: pl.DataFrame, color: str, value: str, by: list[str], most: int = MOST_SERIES) -> pl.DataFrame:
    """The ``most - 1`` groups with the largest totals of ``value`` as they are, the rest summed per ``by``
    as one group named "N others" (all of them when they are ``most`` or fewer)."""
    totals = frame.group_by(color).agg(pl.col(value).sum()).sort(value, color, descending=[True, False])
    if totals.height <= most:
        return frame
    kept = totals.head(most - 1)[color]
    rest = frame.filter(~pl.col(color).is_in(kept.implode()))
    others = (
        rest.group_by(by)
        .agg(pl.col(value).sum())
        .with_columns(pl.lit(f"{totals.height - most + 1} others").alias(color))
    )
    return pl.concat([frame.filter(pl.col(color).is_in(kept.implode())).select(*by, color, value), others.select(
        *by, color, value
    )])  # fmt: skip


def over_time(
    frame: pl.DataFrame, x: str, y: str, color: str | None, title: str, y_title: str, y_format: str = ",.2f",
    partial: str | None = None,
) -> alt.LayerChart:  # fmt: skip
    """A line per group over time, with points and a tooltip; where the boolean column ``partial`` is true
    (a first or last bucket the range cuts), the point is hollow and the tooltip says so."""
    encoding: dict[str, object] = {
        "x": alt.X(f"{x}:T", title=None),
        "y": alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=y_format)),
        "tooltip": [alt.Tooltip(f"{x}:T", title="from")]
        + ([alt.Tooltip(f"{color}:N")] if color else [])
        + [alt.Tooltip(f"{y}:Q", title=y_title, format=y_format)]
        + ([alt.Tooltip(f"{partial}:N", title="partial bucket")] if partial else []),
    }
    fill: Any = alt.value(SINGLE)
    stroke: Any = alt.value(SINGLE)
    if color:
        encoding["color"] = alt.Color(f"{color}:N", title=None, legend=LEGEND)
        fill, stroke = alt.Fill(f"{color}:N", legend=None), alt.Stroke(f"{color}:N", legend=None)
    if partial:
        fill = alt.condition(f"datum['{partial}']", alt.value("white"), fill)
    base = alt.Chart(frame)
    line = base.mark_line(color=SINGLE).encode(**{k: v for k, v in encoding.items() if k != "tooltip"})
    points = base.mark_point(filled=True, size=45, opacity=1).encode(**encoding, fill=fill, stroke=stroke)
    named = title + (" (hollow points: partial buckets)" if partial else "")
    return alt.LayerChart(layer=[line, points], title=named, height=260, autosize=FIT_WIDTH)


def bars(
    frame: pl.DataFrame, category: str, value: str, title: str, value_title: str, color: str | None = None,
    value_format: str = ",.2f",
) -> alt.Chart:  # fmt: skip
    """Horizontal bars, largest first; stacked by ``color`` when given (at most MOST_SERIES of them named;
    ``version_state`` values take their fixed colours)."""
    if color:
        frame = top_series(frame, color, value, [category])
    encoding: dict[str, object] = {
        "y": alt.Y(f"{category}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        "x": alt.X(f"sum({value}):Q", title=value_title, axis=alt.Axis(format=value_format)),
        "tooltip": [alt.Tooltip(f"{category}:N")]
        + ([alt.Tooltip(f"{color}:N")] if color else [])
        + [alt.Tooltip(f"sum({value}):Q", title=value_title, format=value_format)],
    }
    if color:
        states = set(frame[color].drop_nulls()) <= set(VERSION_COLORS)
        scale = version_scale() if states else alt.Undefined
        encoding["color"] = alt.Color(f"{color}:N", title=None, legend=LEGEND, scale=scale)
    return (
        alt.Chart(frame, title=title).mark_bar().encode(**encoding).properties(height=alt.Step(22), autosize=FIT_WIDTH)
    )


def stacked_area(frame: pl.DataFrame, x: str, y: str, color: str, title: str, y_title: str) -> alt.Chart:
    """Areas stacked per group over time; at most MOST_SERIES groups named, the rest summed as one."""
    frame = top_series(frame, color, y, [x])
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


def auto(frame: pl.DataFrame) -> alt.Chart | alt.LayerChart | None:
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


__all__ = [
    "BAND_COLORS",
    "MOST_SERIES",
    "VERSION_COLORS",
    "auto",
    "band_scale",
    "bars",
    "over_time",
    "show",
    "stacked_area",
    "top_series",
    "version_scale",
    "version_state",
]
