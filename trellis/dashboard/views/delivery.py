"""Delivery: DORA metrics over time per team, workload or environment, with their bands, and the
deployments and incidents behind them."""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import polars as pl
import streamlit as st

from trellis.dashboard import charts, data, figures, ui
from trellis.dashboard.context import Context

LEVELS = {"team": "Team", "workload": "Workload", "environment": "Environment"}
BAND_MARK = {"elite": "🟢 elite", "high": "🔵 high", "medium": "🟡 medium", "low": "🔴 low"}
METRICS = [
    ("deployment_frequency_band", "Deployment frequency"),
    ("lead_time_band", "Lead time"),
    ("change_failure_rate_band", "Change failure rate"),
    ("recovery_band", "Recovery time"),
]
BEHIND_ROWS = 2000
"""Deployments and incidents the tables behind the numbers show, the latest first."""
MOST_GROUPS = charts.MOST_SERIES  # charts draw the busiest groups only; the tables have them all


def _dora(ctx: Context, level: str, bucket: str) -> pl.DataFrame:
    frame, _ = data.answer(ctx, "dora")
    return figures.dora_rows(frame, level, bucket)


def _bands_table(period: pl.DataFrame) -> pl.DataFrame:
    return period.select(
        pl.col("grp").alias("group"),
        "production",
        "deployments",
        pl.col("median_deployment_days_per_week").alias("deploy days / week"),
        pl.col("deployment_frequency_band").replace_strict(BAND_MARK, default=None).alias("frequency"),
        pl.col("lead_time_median_hours").round(1).alias("lead time (h)"),
        pl.col("lead_time_band").replace_strict(BAND_MARK, default=None).alias("lead time band"),
        (pl.col("change_failure_rate") * 100).round(1).alias("failure rate %"),
        pl.col("change_failure_rate_band").replace_strict(BAND_MARK, default=None).alias("failure band"),
        pl.col("recovery_median_hours").round(2).alias("recovery (h)"),
        pl.col("recovery_band").replace_strict(BAND_MARK, default=None).alias("recovery band"),
        (pl.col("rework_rate") * 100).round(1).alias("rework %"),
    ).sort("deployments", descending=True)


def _band_heatmap(period: pl.DataFrame) -> alt.Chart | None:
    rows = [
        {"group": g, "metric": label, "band": row[column]}
        for row in period.sort("deployments", descending=True).head(MOST_GROUPS * 2).iter_rows(named=True)
        for column, label in METRICS
        if (g := row["grp"]) and row[column]
    ]
    if not rows:
        return None
    frame = pl.DataFrame(rows)
    base = alt.Chart(frame, title="Performance bands (period)").encode(
        x=alt.X(
            "metric:N",
            title=None,
            sort=[m for _, m in METRICS],
            axis=alt.Axis(labelAngle=0, orient="top", labelLimit=220),
        ),
        y=alt.Y("group:N", title=None, sort=None, axis=alt.Axis(labelLimit=300)),
    )
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("band:N", scale=charts.band_scale(), legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["group", "metric", "band"],
    )
    text = base.mark_text(color="white", fontWeight="bold").encode(text="band:N")
    return (cells + text).properties(height=alt.Step(26), autosize=charts.FIT_WIDTH)


WEEKLY = [
    ("deployments", "Deployments per week", "deployments", ",.0f"),
    ("lead_time_median_hours", "Median lead time", "hours", ",.1f"),
    ("failure_rate_pct", "Change failure rate", "%", ",.1f"),
    ("recovery_median_hours", "Median recovery time", "hours", ",.2f"),
]


def _weekly_charts(weeks: pl.DataFrame, period: pl.DataFrame) -> None:
    busiest = period.sort("deployments", descending=True).head(MOST_GROUPS)["grp"].to_list()
    weeks = weeks.filter(pl.col("grp").is_in(busiest)).with_columns(
        (pl.col("change_failure_rate") * 100).alias("failure_rate_pct"),
        ((pl.col("bucket_end") - pl.col("bucket_start")) < timedelta(days=7)).alias("partial"),
    )
    if len(period) > MOST_GROUPS:
        st.caption(f"Charts show the {MOST_GROUPS} busiest of {len(period)} groups; the tables have them all.")
    for row in (WEEKLY[:2], WEEKLY[2:]):
        for column, (y, title, unit, fmt) in zip(st.columns(2), row, strict=True):
            charts.show(
                column,
                charts.over_time(weeks, "bucket_start", y, "grp", title, unit, fmt, partial="partial"),
                width="stretch",
            )


def _deployments_sql(ctx: Context) -> str:
    f = ctx.filters
    return f"""SELECT finished_at, service_namespace AS team, service_name AS workload, environment, status,
                      service_version AS version, vcs_revision AS revision,
                      round(date_diff('minute', first_commit_at, finished_at) / 60, 1) AS lead_time_h, deployment_id
               FROM deployments WHERE {f.where("finished_at", "service_namespace", "environment")}
               ORDER BY finished_at DESC"""


def _incidents_sql(ctx: Context) -> str:
    f = ctx.filters
    return f"""SELECT opened_at, resolved_at, service_namespace AS team, service_name AS workload, environment,
                      round(date_diff('minute', opened_at, resolved_at) / 60, 2) AS hours_to_resolve,
                      caused_by_deployment_id, incident_id
               FROM incidents WHERE {f.where("opened_at", "service_namespace", "environment")}
               ORDER BY opened_at DESC"""


def _behind(ctx: Context) -> None:
    deployments = data.sql(ctx, _deployments_sql(ctx), limit=BEHIND_ROWS)
    incidents = data.sql(ctx, _incidents_sql(ctx), limit=BEHIND_ROWS)
    tabs = st.tabs([f"Deployments ({deployments.height:,})", f"Incidents ({incidents.height:,})"])
    with tabs[0]:
        ui.table(deployments, height=320)
        st.download_button("Download CSV", deployments.write_csv, "deployments.csv", "text/csv", key="dl_deploy")
    with tabs[1]:
        ui.table(incidents, height=320)
        st.download_button("Download CSV", incidents.write_csv, "incidents.csv", "text/csv", key="dl_incidents")


def render(ctx: Context) -> None:
    ui.header("Delivery", "DORA metrics: how often, how fast and how safely changes reach production", ctx)
    data.ahead(ctx, "dora")
    data.ahead_sql(ctx, _deployments_sql(ctx), _incidents_sql(ctx), limit=BEHIND_ROWS)
    count = data.sql(ctx, "SELECT count(*) AS n FROM deployments")
    if not data.scalar(count, "n", 0):
        ui.empty_state(ctx, "deployments")
        return
    level = st.segmented_control("Group by", list(LEVELS), format_func=LEVELS.__getitem__, key="dora_level")
    level = level or "team"
    period = _dora(ctx, level, "period")
    ui.covers(data.answer(ctx, "dora")[1])
    if period.height == 0:
        st.info("No deployments or incidents for these filters; widen the range or the team and environment filters.")
    else:
        heatmap = _band_heatmap(period.filter(pl.col("production")))
        if heatmap is not None:
            charts.show(st, heatmap, width="stretch")
        st.subheader("Over time")
        _weekly_charts(_dora(ctx, level, "week"), period)
        st.subheader("For the period")
        ui.table(_bands_table(period))
    st.subheader("Behind the numbers")
    _behind(ctx)


ui.run_page(render)
