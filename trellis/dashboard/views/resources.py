"""Resource usage: catalog adoption per type, definition and version; demand and misses; utilization
against requests with right-sizing advice; cost per team and definition."""

from __future__ import annotations

from datetime import UTC, datetime

import altair as alt
import polars as pl
import streamlit as st

from trellis.dashboard import charts, data, figures, ui
from trellis.dashboard.context import Context

ADVICE_MARGIN = 0.2  # a request within 20% of the recommendation is left alone


def advice(resource: str, request: float | None, recommended: float | None) -> str:
    """Right-sizing advice for one container and resource, in words."""
    if request is None or recommended is None or request <= 0:
        return "set a request" if recommended else "no data"
    change = (recommended - request) / request
    unit = (lambda v: f"{v:.2f} cores") if resource == "cpu" else (lambda v: f"{v / 2**20:,.0f} MiB")
    if change < -ADVICE_MARGIN:
        return f"shrink to {unit(recommended)} (-{abs(change) * 100:.0f}%)"
    if change > ADVICE_MARGIN:
        return f"grow to {unit(recommended)} (+{change * 100:.0f}%)"
    return "right-sized"


def _adoption(ctx: Context) -> None:
    answer, covers = data.answer(ctx, "adoption")
    types = data.sql(ctx, "SELECT id AS definition_id, type FROM catalog_definitions")
    frame = (
        figures.latest_snapshot(answer, "version")
        .join(types, on="definition_id", how="left")
        .select(
            "type",
            "definition_id",
            "version",
            "active_version",
            "is_active",
            "consumers",
            "share_of_consumers",
            "snapshot_at",
        )
        .sort("type", "definition_id", "version")
    )
    ui.covers(covers + " (consumers at the range's last snapshot)")
    if frame.height == 0:
        st.info("No definition has consumers yet: workloads get bindings when they resolve (`trellis resolve`).")
        return
    frame = frame.with_columns(charts.version_state(pl.col("version"), pl.col("active_version")).alias("state"))
    per_type = frame.group_by("type").agg(
        pl.col("definition_id").n_unique().alias("definitions"), pl.col("consumers").sum().alias("consumers")
    )
    left, right = st.columns([1, 2])
    charts.show(left, charts.bars(per_type, "type", "consumers", "Consumers per type", "consumers", None, ",.0f"))
    charts.show(
        right,
        charts.bars(frame, "definition_id", "consumers", "Consumers per definition, by version", "consumers",
                    "state", ",.0f"),
        width="stretch",
    )  # fmt: skip
    ui.table(
        frame.select("type", "definition_id", "version", "is_active", "consumers",
                     (pl.col("share_of_consumers") * 100).round(1).alias("share %")),
    )  # fmt: skip


def _demand(ctx: Context) -> None:
    answer, covers = data.answer(ctx, "demand")
    frame = answer.filter(pl.col("level") == "combo").sort("requests", descending=True)
    ui.covers(covers)
    if frame.height == 0:
        st.info("Nobody has asked the catalog for anything in this period.")
        return
    combo = frame.with_columns(pl.format("{}/{}", "type", "class").alias("type/class"))
    long = combo.unpivot(index="type/class", on=["resolved", "misses"], variable_name="outcome", value_name="n")
    charts.show(st, charts.bars(long, "type/class", "n", "Requests by type and class", "requests", "outcome", ",.0f"))
    misses = combo.filter(pl.col("misses") > 0)
    if misses.height:
        st.markdown(f"**{int(misses['misses'].sum()):,} requests the catalog could not serve**")
        ui.table(misses.select("type", "class", "misses", "requests", "last_miss_reason"))
    ui.table(
        combo.select("type", "class", "requests", "resolved", "misses",
                     (pl.col("default_share") * 100).round(1).alias("fell back to default %"), "consumers"),
    )  # fmt: skip


def _utilization(ctx: Context) -> None:
    answer, covers = data.answer(ctx, "utilization")
    frame = answer.sort("resource", pl.col("idle_share"), descending=[False, True], nulls_last=True)
    ui.covers(covers)
    if frame.height == 0:
        st.info("No container metrics for these filters: send kubeletstats / k8s_cluster metrics over OTLP.")
        return
    resource = st.segmented_control("Resource", ["cpu", "memory"], default="cpu", key="util_resource") or "cpu"
    rows = frame.filter(pl.col("resource") == resource)
    scale = 1 if resource == "cpu" else 1 / 2**20
    unit = "cores" if resource == "cpu" else "MiB"
    rows = rows.with_columns(
        (pl.col("usage_avg") * scale).alias("used"),
        (pl.col("request_avg") * scale).alias("requested"),
        (pl.col("recommended_request") * scale).alias("recommended"),
        pl.struct("request_avg", "recommended_request")
        .map_elements(lambda r: advice(resource, r["request_avg"], r["recommended_request"]), return_dtype=pl.String)
        .alias("advice"),
    )
    waste = rows.select(((pl.col("requested") - pl.col("used")).clip(0) ).sum()).item()  # fmt: skip
    cols = st.columns(3)
    cols[0].metric("Containers", f"{rows.height:,}")
    cols[1].metric("Average idle share", ui.percent(rows["idle_share"].mean(), 0))
    cols[2].metric(f"Requested but unused ({unit})", f"{waste:,.1f}")
    top = float(rows["requested"].fill_null(0).max() or 1)  # type: ignore[arg-type]
    diagonal = (
        alt.Chart(pl.DataFrame({"v": [0.0, top]})).mark_line(strokeDash=[4, 4], color="gray").encode(x="v:Q", y="v:Q")
    )
    points = alt.Chart(rows, title=f"Average use against request ({unit}); below the line is unused").mark_circle(
        size=70
    ).encode(
        x=alt.X("requested:Q", title=f"requested ({unit})"),
        y=alt.Y("used:Q", title=f"used ({unit})"),
        color=alt.Color("team:N", legend=charts.LEGEND),
        tooltip=["team", "workload", "environment", "container", alt.Tooltip("used:Q", format=",.2f"),
                 alt.Tooltip("requested:Q", format=",.2f"), "advice"],
    )  # fmt: skip
    charts.show(st, (diagonal + points).properties(height=320, autosize=charts.FIT_WIDTH), width="stretch")
    st.markdown("**Right-sizing advice** (recommended request = 95th percentile of use + 15%)")
    ui.table(
        rows.select("team", "workload", "environment", "container", pl.col("used").round(3),
                    pl.col("requested").round(3), pl.col("recommended").round(3),
                    (pl.col("idle_share") * 100).round(0).alias("idle %"), "advice"),
    )  # fmt: skip


def _cost(ctx: Context) -> None:
    answer, covers = data.answer(ctx, "cost")
    day = answer.filter(pl.col("bucket") == "day")
    teams = day.filter(pl.col("level") == "team").sort("bucket_start")
    definitions = (
        day.filter(pl.col("level") == "definition")
        .group_by("definition_id")
        .agg(pl.col("resource_cost").sum(), pl.col("currency").first())
        .sort("resource_cost", descending=True)
    )
    ui.covers(covers)
    if ctx.filters.end_at > datetime.now(UTC).replace(tzinfo=None):
        st.caption("The last day is today: its cost so far.")
    if teams.height == 0 and definitions.height == 0:
        st.info("No cost yet: cost comes from container metrics and catalog resources in the period.")
        return
    currency = data.scalar(teams, "currency") or data.scalar(definitions, "currency") or ""
    cols = st.columns(3)
    cols[0].metric(f"Total cost ({currency})", f"{teams['total_cost'].sum():,.2f}")
    cols[1].metric(f"Idle cost ({currency})", f"{teams['idle_cost'].sum():,.2f}")
    cols[2].metric(f"Catalog resources ({currency})", f"{definitions['resource_cost'].sum():,.2f}")
    left, right = st.columns(2)
    if teams.height:
        charts.show(
            left,
            charts.stacked_area(teams, "bucket_start", "total_cost", "team", "Cost per team per day", currency),
            width="stretch",
        )
    if definitions.height:
        charts.show(
            right,
            charts.bars(definitions.head(20), "definition_id", "resource_cost", "Cost per definition", currency),
            width="stretch",
        )
    per_team = teams.group_by("team").agg(pl.col("total_cost").sum().round(2), pl.col("idle_cost").sum().round(2))
    ui.table(per_team.sort("total_cost", descending=True))


def render(ctx: Context) -> None:
    ui.header("Resource usage", "What teams use, ask for, waste and pay", ctx)
    data.ahead(ctx, "adoption", "demand", "utilization", "cost")
    if not data.has(ctx, "catalog_definitions"):
        ui.empty_state(ctx, "catalog")
        return
    definitions = data.sql(ctx, "SELECT count(*) AS n FROM catalog_definitions")
    metrics = data.sql(ctx, "SELECT count(*) AS n FROM (SELECT 1 FROM otel_metrics_gauge LIMIT 1)")
    if not data.scalar(definitions, "n", 0) and not data.scalar(metrics, "n", 0):
        ui.empty_state(ctx, "catalog definitions or container metrics")
        return
    tabs = st.tabs(["Adoption", "Demand and misses", "Utilization", "Cost"])
    with tabs[0]:
        _adoption(ctx)
    with tabs[1]:
        _demand(ctx)
    with tabs[2]:
        _utilization(ctx)
    with tabs[3]:
        _cost(ctx)


ui.run_page(render)
