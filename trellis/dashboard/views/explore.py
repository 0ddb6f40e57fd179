"""Explore: a read-only SQL box with results, a chart and a CSV download; a metric browser that groups any
metric by an attribute over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import streamlit as st

from trellis.dashboard import charts, data, ui
from trellis.dashboard.context import Context
from trellis.dashboard.filters import Filters

EXAMPLE = """SELECT service_namespace AS team, environment, status, count(*) AS deployments
FROM deployments
GROUP BY ALL
ORDER BY deployments DESC"""
ROW_LIMIT = 10_000
RESOURCE_COLUMNS = ["service_name", "service_namespace", "deployment_environment_name", "k8s_namespace_name",
                    "k8s_pod_name", "k8s_container_name", "host_name"]  # fmt: skip


def bucket_for(filters: Filters) -> str:
    """A time bucket that draws the range in a few hundred points at most."""
    if filters.days <= 2:
        return "1 hour"
    if filters.days <= 14:
        return "6 hours"
    return "1 day"


def bucket_width(filters: Filters) -> timedelta:
    """How long ``bucket_for``'s bucket is."""
    amount, unit = bucket_for(filters).split(" ", 1)
    return timedelta(hours=int(amount)) if unit.startswith("hour") else timedelta(days=int(amount))


def metric_query(table: str, group: str, filters: Filters, cumulative: bool) -> str:
    """One value per bucket and group: the average of a gauge, the increase of a counter (``$metric``
    and ``$group`` are bound by ``data.sql``)."""
    column = group if group in RESOURCE_COLUMNS else "attributes[$group]"
    where = "metric_name = $metric AND value IS NOT NULL AND " + filters.where(
        "time", "service_namespace", "deployment_environment_name"
    )
    bucket = f"time_bucket(INTERVAL '{bucket_for(filters)}', time)"
    if table == "otel_metrics_gauge":
        return f"""SELECT {bucket} AS bucket, coalesce(CAST({column} AS VARCHAR), '(none)') AS grp, avg(value) AS value
                   FROM {table} WHERE {where} GROUP BY ALL ORDER BY bucket"""
    if cumulative:
        # A point's increase is over its series' previous point; after a reset (a new start time or a lower
        # value) the counter restarted from zero, so the increase is the value itself. Each increase
        # counts in the bucket of the point that ends it; a series' first point only starts it.
        return f"""WITH points AS (
                       SELECT {bucket} AS bucket, coalesce(CAST({column} AS VARCHAR), '(none)') AS grp, value,
                              start_time, lag(value) OVER w AS previous, lag(start_time) OVER w AS previous_start
                       FROM {table} WHERE {where}
                       WINDOW w AS (PARTITION BY series_id ORDER BY time, value)),
                   increases AS (
                       SELECT bucket, grp, CASE
                           WHEN previous IS NULL THEN 0
                           WHEN value < previous OR start_time IS DISTINCT FROM previous_start THEN value
                           ELSE value - previous END AS value
                       FROM points)
                   SELECT bucket, grp, sum(value) AS value FROM increases GROUP BY ALL ORDER BY bucket"""
    return f"""SELECT {bucket} AS bucket, coalesce(CAST({column} AS VARCHAR), '(none)') AS grp, sum(value) AS value
               FROM {table} WHERE {where} GROUP BY ALL ORDER BY bucket"""


def _sql_box(ctx: Context) -> None:
    st.subheader("SQL")
    st.caption("One read-only statement (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE) over the collector's tables; "
               "docs/schema.md and docs/analytics.md describe them.")  # fmt: skip
    with st.form("sql"):
        text = st.text_area("Query", EXAMPLE, height=160, key="explore_sql")
        run = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    if run:
        st.session_state["explore_ran"] = text
    ran = st.session_state.get("explore_ran")
    if not ran:
        return
    frame = data.sql(ctx, ran, limit=ROW_LIMIT)
    st.caption(f"{frame.height:,} rows" + (f" (the first {ROW_LIMIT:,})" if frame.height >= ROW_LIMIT else ""))
    chart = charts.auto(frame)
    if chart is not None:
        charts.show(st, chart, width="stretch")
    ui.table(frame)
    st.download_button("Download CSV", frame.write_csv, "query.csv", "text/csv", key="explore_csv")


def _metrics(ctx: Context) -> None:
    st.subheader("Metrics")
    f = ctx.filters
    where = f.where("time", "service_namespace", "deployment_environment_name")
    metrics = data.sql(
        ctx,
        f"""SELECT 'otel_metrics_gauge' AS tbl, metric_name, any_value(metric_unit) AS unit, false AS cumulative,
                   count(*) AS points FROM otel_metrics_gauge WHERE {where} GROUP BY ALL
            UNION ALL
            SELECT 'otel_metrics_sum', metric_name, any_value(metric_unit), bool_or(aggregation_temporality = 2),
                   count(*) FROM otel_metrics_sum WHERE {where} GROUP BY ALL
            ORDER BY metric_name""",
    )
    if metrics.height == 0:
        ui.empty_state(ctx, "metrics in this range")
        return
    labels = [
        f"{r['metric_name']} ({r['unit'] or 'no unit'}, {r['points']:,} points)" for r in metrics.iter_rows(named=True)
    ]
    cols = st.columns([2, 1])
    picked = cols[0].selectbox("Metric", range(len(labels)), format_func=labels.__getitem__, key="explore_metric")
    row = metrics.row(picked or 0, named=True)
    keys = data.sql(
        ctx,
        f"""SELECT DISTINCT unnest(map_keys(attributes)) AS k FROM
              (SELECT attributes FROM {row["tbl"]} WHERE metric_name = $metric LIMIT 2000)
            ORDER BY k""",
        metric=row["metric_name"],
    )
    groups = RESOURCE_COLUMNS + [k for k in keys["k"].to_list() if k]
    group = cols[1].selectbox("Group by", groups, key="explore_group") or groups[0]
    query = metric_query(row["tbl"], group, f, bool(row["cumulative"]))
    frame = data.sql(ctx, query, metric=row["metric_name"], group=group)
    how = "average" if row["tbl"] == "otel_metrics_gauge" else "increase" if row["cumulative"] else "sum"
    if frame.height == 0:
        st.info("No points for these filters.")
        return
    ranked = frame.group_by("grp").len().sort("len", "grp", descending=[True, False])
    shown = frame.filter(frame["grp"].is_in(ranked.head(charts.MOST_SERIES)["grp"].implode())).with_columns(
        partial=pl.col("bucket") + bucket_width(f) > datetime.now(UTC).replace(tzinfo=None)
    )
    title = f"{row['metric_name']}: {how} per {bucket_for(f)}, by {group}"
    if ranked.height > charts.MOST_SERIES:
        title += f" (the {charts.MOST_SERIES} of {ranked.height} groups with the most points)"
    charts.show(
        st,
        charts.over_time(shown, "bucket", "value", "grp", title, row["unit"] or how, ",.3~s", partial="partial"),
        width="stretch",
    )
    with st.expander("The numbers"):
        ui.table(frame)


def render(ctx: Context) -> None:
    ui.header("Explore", "Ask the store anything, read-only", ctx)
    _metrics(ctx)
    _sql_box(ctx)


ui.run_page(render)
