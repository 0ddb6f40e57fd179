"""Overview: the platform at a glance, each number linking to the page behind it."""

from __future__ import annotations

import time
from datetime import timedelta

import polars as pl
import streamlit as st

from trellis.dashboard import data, figures, ui
from trellis.dashboard.config import LIVE_SECONDS
from trellis.dashboard.context import Context

TOTAL = "SELECT count(*) AS n FROM deployments"


def _deployments_sql(ctx: Context) -> str:
    """Deployments in the 7 days up to the range's end, and in the 7 days before."""
    f = ctx.filters
    end = f.end_at
    week, before = end - timedelta(days=7), end - timedelta(days=14)
    where = f.where(None, "service_namespace", "environment")
    return f"""SELECT count(*) FILTER (WHERE finished_at >= TIMESTAMP '{week}') AS this_week,
                      count(*) FILTER (WHERE finished_at < TIMESTAMP '{week}') AS last_week
               FROM deployments
               WHERE finished_at >= TIMESTAMP '{before}' AND finished_at < TIMESTAMP '{end}' AND {where}"""


def _deployments(ctx: Context) -> tuple[int, int]:
    frame = data.sql(ctx, _deployments_sql(ctx))
    return int(data.scalar(frame, "this_week", 0)), int(data.scalar(frame, "last_week", 0))


def _dora_band(ctx: Context) -> tuple[str | None, str]:
    """The deployment frequency band of the busiest production group in the range, and every group's band."""
    frame, _ = data.answer(ctx, "dora")
    level = "team" if ctx.filters.teams else "environment"
    rows = figures.dora_rows(frame, level, "period").filter(pl.col("production"))
    rows = rows.sort("deployments", descending=True)
    if rows.height == 0:
        return None, "no production deployments in the selected range"
    detail = ", ".join(f"{g}: {b}" for g, b in zip(rows["grp"], rows["deployment_frequency_band"], strict=True) if b)
    return rows["deployment_frequency_band"][0], detail


def _catalog_sql(ctx: Context) -> str:
    f = ctx.filters
    return f"""SELECT
              (SELECT count(DISTINCT definition_id) FROM catalog_versions WHERE state = 'active') AS active_definitions,
              (SELECT count(*) FROM catalog_definitions) AS definitions,
              (SELECT count(*) FROM catalog_versions WHERE state = 'proposed') AS pending,
              (SELECT count(*) FROM (SELECT DISTINCT app, env, workload, resource FROM catalog_bindings
                                     WHERE {f.where(None, "app", "env")})) AS resources"""


def _has_catalog(ctx: Context) -> bool:
    return data.has(ctx, "catalog_versions", "catalog_bindings")


def _catalog_numbers(ctx: Context) -> dict[str, object]:
    if not _has_catalog(ctx):
        return {}
    frame = data.sql(ctx, _catalog_sql(ctx))
    return frame.row(0, named=True) if frame.height else {}


def _shares(ctx: Context) -> tuple[float | None, float | None]:
    """Share of consumers on their definition's active version, and the legacy share, at the range's last
    snapshot, among the consumers of the teams and environments on screen."""
    adoption = figures.latest_snapshot(data.answer(ctx, "adoption")[0], "version")
    consumers = float(adoption["consumers"].sum()) if adoption.height else 0.0
    active = float(adoption.filter(pl.col("is_active"))["consumers"].sum()) / consumers if consumers else None
    health = figures.latest_snapshot(data.answer(ctx, "platform_health")[0], "legacy_share")
    legacy = data.scalar(health, "legacy_share")
    return active, legacy


@st.fragment(run_every=LIVE_SECONDS)
def _live(ctx: Context) -> None:
    """Ingest and approvals, refreshed on their own every few seconds."""
    with ui.guard():
        _live_numbers(ctx)


def _live_numbers(ctx: Context) -> None:
    cols = st.columns(3)
    stats = data.stats(ctx)
    if stats is None:
        cols[0].metric("Ingest rate", "n/a", help="Only a running collector knows its ingest rate.")
    else:
        cols[0].metric("Ingest rate", f"{stats.get('ingest_rate_per_s', 0):,.0f} points/s")
    last = stats.get("last_commit_at") if stats else None
    if last:
        ago = max(time.time() - float(last), 0)
        cols[1].metric("Last data received", f"{_ago(ago)} ago")
    else:
        frame = data.sql(ctx, "SELECT max(finished_at) AS at FROM deployments")
        at = data.scalar(frame, "at")
        cols[1].metric("Last deployment received", f"{at:%Y-%m-%d %H:%M}" if at else "never")
    with cols[0]:
        st.page_link("views/explore.py", label="Explore the data", icon=":material/search:")
    with cols[1]:
        st.page_link("views/delivery.py", label="Deployments", icon=":material/rocket_launch:")
        st.page_link("views/connectors.py", label="Webhook deliveries", icon=":material/webhook:")
    numbers = _catalog_numbers(ctx)
    cols[2].metric("Pending approvals (platform-wide)", f"{numbers.get('pending', 0)}")
    with cols[2]:
        st.page_link("views/approvals.py", label="Review them", icon=":material/task_alt:")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86_400:.0f} days"


def render(ctx: Context) -> None:
    ui.header("Overview", "The platform at a glance", ctx)
    data.ahead(ctx, "dora", "adoption", "platform_health")
    queries = [_deployments_sql(ctx), TOTAL, _recent_sql(ctx)]
    data.ahead_sql(ctx, *queries, *([_catalog_sql(ctx)] if _has_catalog(ctx) else []))
    this_week, last_week = _deployments(ctx)
    numbers = _catalog_numbers(ctx)
    total = data.sql(ctx, TOTAL)
    if not data.scalar(total, "n", 0) and not numbers.get("definitions"):
        ui.empty_state(ctx, "deployments, definitions or telemetry")
        return
    band, detail = _dora_band(ctx)
    active_share, legacy_share = _shares(ctx)

    row = st.columns(3)
    row[0].metric(
        "Deployments in the range's last 7 days", f"{this_week:,}", delta=this_week - last_week,
        help="Up to the end of the selected range; the change is against the 7 days before.",
    )  # fmt: skip
    row[1].metric("DORA deployment frequency (the range)", band or "n/a", help=detail)
    row[1].caption(detail)
    row[2].metric(
        "Active definitions (platform-wide)",
        f"{numbers.get('active_definitions', 0)} of {numbers.get('definitions', 0)}",
        help="Definitions with an active version, of all definitions: definitions are shared by every team.",
    )  # fmt: skip
    with row[0]:
        st.page_link("views/delivery.py", label="Delivery", icon=":material/rocket_launch:")
    with row[1]:
        st.page_link("views/delivery.py", label="DORA metrics", icon=":material/speed:")
    with row[2]:
        st.page_link("views/catalog.py", label="Catalog", icon=":material/category:")

    row = st.columns(3)
    row[0].metric(
        "Resources in use",
        f"{numbers.get('resources', 0):,}",
        help="Workload resources the catalog has bound, for the teams and environments selected (every binding "
        "ever recorded, whatever the range).",
    )
    row[1].metric(
        "Consumers on the active version", ui.percent(active_share, 1),
        help="At the range's last snapshot, among the consumers of the teams and environments selected.",
    )  # fmt: skip
    row[2].metric(
        "Legacy share", ui.percent(legacy_share, 1),
        help="Consumers on legacy (imported) definitions, at the range's last snapshot, among those selected.",
    )  # fmt: skip
    with row[0]:
        st.page_link("views/resources.py", label="Resource usage", icon=":material/memory:")
    with row[1]:
        st.page_link("views/rollouts.py", label="Rollouts", icon=":material/sync:")
    with row[2]:
        st.page_link("views/legacy.py", label="Legacy", icon=":material/inventory_2:")

    st.subheader("Live")
    _live(ctx)
    _recent(ctx)


def _recent_sql(ctx: Context) -> str:
    f = ctx.filters
    return f"""SELECT finished_at, service_namespace AS team, service_name AS workload, environment, status,
                      service_version AS version
               FROM deployments WHERE {f.where("finished_at", "service_namespace", "environment")}
               ORDER BY finished_at DESC LIMIT 10"""


def _recent(ctx: Context) -> None:
    frame = data.sql(ctx, _recent_sql(ctx))
    if frame.height:
        st.subheader("Latest deployments")
        ui.table(frame.with_columns(pl.col("finished_at").dt.strftime("%Y-%m-%d %H:%M")))


ui.run_page(render)
