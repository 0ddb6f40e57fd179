"""dashboard/charts.py: legends that stay readable, the active version in one colour, partial buckets marked."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import pytest

from trellis.dashboard import charts

ROOT = Path(__file__).resolve().parents[2]


def _spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    return spec


def _values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return next(iter(spec["datasets"].values()))


def test_a_stacked_chart_names_the_biggest_groups_and_sums_the_rest_as_one() -> None:
    teams = [f"team-{n:02}" for n in range(12)]
    frame = pl.DataFrame(
        {"day": [datetime(2026, 1, d) for d in (1, 2) for _ in teams], "team": teams * 2,
         "cost": [float(n + 1) for n in range(12)] * 2}
    )  # fmt: skip
    values = _values(_spec(charts.stacked_area(frame, "day", "cost", "team", "Cost", "EUR")))
    names = {v["team"] for v in values}
    assert len(names) == charts.MOST_SERIES and "5 others" in names
    assert {f"team-{n:02}" for n in range(5, 12)} <= names  # the seven biggest
    others = [v["cost"] for v in values if v["team"] == "5 others"]
    assert others == [1.0 + 2 + 3 + 4 + 5] * 2
    assert sum(v["cost"] for v in values) == frame["cost"].sum(), "nothing is lost or counted twice"


def test_the_active_version_is_the_same_colour_whatever_its_number() -> None:
    for active in (2, 7):
        frame = pl.DataFrame({"definition": ["pg"] * 3, "version": [active - 1, active, active + 1],
                              "consumers": [3, 5, 1]})  # fmt: skip
        frame = frame.with_columns(state=charts.version_state(pl.col("version"), pl.lit(active)))
        spec = _spec(charts.bars(frame, "definition", "consumers", "Consumers", "consumers", "state"))
        scale = spec["encoding"]["color"]["scale"]
        colour = dict(zip(scale["domain"], scale["range"], strict=True))
        by_version = {v["state"]: v["consumers"] for v in _values(spec)}
        assert by_version == {"older version": 3, "active version": 5, "newer version": 1}
        assert colour["active version"] == charts.VERSION_COLORS["active version"]


def test_a_partial_bucket_is_drawn_hollow() -> None:
    frame = pl.DataFrame(
        {"week": [datetime(2026, 1, 1), datetime(2026, 1, 5), datetime(2026, 1, 12)], "n": [2, 9, 4],
         "partial": [True, False, True]}
    )  # fmt: skip
    spec = _spec(charts.over_time(frame, "week", "n", None, "Deployments per week", "n", partial="partial"))
    points = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")
    assert points["encoding"]["fill"]["condition"] == {"test": "datum['partial']", "value": "white"}
    assert "partial buckets" in spec["title"]


def test_every_table_of_every_page_shows_a_missing_value_as_empty() -> None:
    """Streamlit writes "None" in a missing cell unless told otherwise; pages show tables through ui.table."""
    views = sorted((ROOT / "trellis" / "dashboard" / "views").glob("*.py"))
    direct = [path.name for path in views if "st.dataframe(" in path.read_text()]
    assert views and direct == []


def test_every_chart_of_every_page_is_drawn_through_show_which_validates_only_when_asked(monkeypatch: Any) -> None:
    """Pages draw charts with charts.show: Vega-Lite's schema is checked in the tests, not on every run."""
    views = sorted((ROOT / "trellis" / "dashboard" / "views").glob("*.py"))
    direct = [path.name for path in views if "altair_chart(" in path.read_text()]
    assert views and direct == []

    drawn: list[Any] = []

    class Page:
        def altair_chart(self, chart: Any, **options: Any) -> None:
            drawn.append((chart.to_dict(), options))

    frame = pl.DataFrame({"definition": ["pg"], "consumers": [3]})
    chart = charts.bars(frame, "definition", "consumers", "Consumers", "consumers")
    broken = chart.copy()
    broken.mark = "no such mark"  # set as an attribute, unchecked until the spec is validated
    for validate in (False, True):
        monkeypatch.setattr(charts, "VALIDATE", validate)
        charts.show(Page(), chart, width="stretch")
        assert drawn.pop() == (chart.to_dict(), {"width": "stretch"})
    monkeypatch.setattr(charts, "VALIDATE", False)
    charts.show(Page(), broken)
    monkeypatch.setattr(charts, "VALIDATE", True)
    with pytest.raises(alt.utils.schemapi.SchemaValidationError):
        charts.show(Page(), broken)
