"""Rollouts: per definition, who runs the active version and who lags behind; deadlines and pins."""

from __future__ import annotations

import polars as pl
import streamlit as st

from trellis.dashboard import charts, data, ui
from trellis.dashboard.context import Context


def _summary(ctx: Context) -> pl.DataFrame:
    """Every definition with an active version: consumers from the latest bindings, deadlines and pins."""
    where = ctx.filters.where(None, "app", "env")
    return data.sql(
        ctx,
        f"""WITH latest AS (
               SELECT definition_id, version FROM catalog_bindings WHERE {where}
               QUALIFY row_number() OVER (PARTITION BY app, env, workload, resource ORDER BY resolved_at DESC) = 1
           ), active AS (
               SELECT definition_id, version AS active_version, activated_at FROM catalog_versions
               WHERE state = 'active'
           ), deadlines AS (
               SELECT definition_id, min(deadline) AS next_deadline, count(*) AS deprecated_versions
               FROM catalog_versions WHERE state = 'deprecated' GROUP BY definition_id
           )
           SELECT a.definition_id AS definition, a.active_version, a.activated_at,
                  count(l.version) AS consumers,
                  count(l.version) FILTER (WHERE l.version = a.active_version) AS on_active,
                  d.deprecated_versions, d.next_deadline
           FROM active a LEFT JOIN latest l USING (definition_id) LEFT JOIN deadlines d USING (definition_id)
           GROUP BY ALL ORDER BY consumers - on_active DESC, definition""",
    )


def _pins(ctx: Context) -> pl.DataFrame:
    where = ctx.filters.where(None, "spec->>'app'", "spec->>'env'")
    frame = data.sql(
        ctx,
        f"""SELECT id AS pin, spec->>'definition' AS definition, CAST(spec->>'version' AS INTEGER) AS version,
                  spec->>'app' AS app, spec->>'env' AS env, spec->>'workload' AS workload,
                  spec->>'resource' AS resource, spec->>'owner' AS owner, spec->>'reason' AS reason,
                  strftime(CAST(spec->>'expires' AS TIMESTAMPTZ) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') AS expires,
                  round((epoch(CAST(spec->>'expires' AS TIMESTAMPTZ)) - epoch(now())) / 86400, 1) AS "days left"
           FROM catalog_objects WHERE kind = 'Pin' AND {where} ORDER BY expires""",
    )
    return frame


def _convergence(ctx: Context, definition: str) -> None:
    answer = data.read(ctx, "convergence", {"definition": definition})
    rows = pl.DataFrame(answer["rows"], infer_schema_length=None) if answer["rows"] else pl.DataFrame()
    f = ctx.filters
    if rows.height and f.teams:
        rows = rows.filter(pl.col("app").is_in(list(f.teams)))
    if rows.height and f.envs:
        rows = rows.filter(pl.col("env").is_in(list(f.envs)))
    on_active = rows.filter(pl.col("on_active")).height if rows.height else 0
    cols = st.columns(3)
    cols[0].metric("Active version", answer["active_version"] or "none")
    cols[1].metric("Consumers", rows.height)
    cols[2].metric("On the active version", ui.percent(on_active / rows.height if rows.height else None, 0))
    if rows.height == 0:
        st.info("No consumer uses this definition (for these filters).")
        return
    per_version = (
        rows.group_by("version")
        .agg(pl.len().alias("consumers"))
        .with_columns(state=charts.version_state(pl.col("version"), pl.lit(answer["active_version"])))
        .with_columns(pl.format("v{}", "version").alias("version"))
    )
    charts.show(
        st, charts.bars(per_version, "version", "consumers", "Consumers per version", "consumers", "state", ",.0f")
    )
    behind = rows.filter(~pl.col("on_active")).sort("behind_days", descending=True)
    if behind.height:
        st.markdown(f"**{behind.height} consumers behind the active version**")
        ui.table(
            behind.select("app", "env", "workload", "resource", "version", pl.col("behind_days").round(1), "source"),
        )
    else:
        st.success("Every consumer runs the active version.")


def render(ctx: Context) -> None:
    ui.header("Rollouts", "Consumers on the active version, deadlines and pins", ctx)
    st.caption("The catalog as it is now, for the teams and environments selected: the time range does not apply.")
    if not data.has(ctx, "catalog_versions"):
        ui.empty_state(ctx, "catalog")
        return
    summary = _summary(ctx)
    if summary.height == 0:
        ui.empty_state(ctx, "active definitions")
        return
    summary = summary.with_columns((pl.col("on_active") / pl.col("consumers")).alias("share"))
    ui.table(
        summary.select(
            "definition", "active_version", "consumers", "on_active",
            (pl.col("share") * 100).round(0).alias("on active %"), "deprecated_versions",
            pl.col("next_deadline").dt.strftime("%Y-%m-%d").alias("next deadline"),
        ),
        column_config={"on active %": st.column_config.ProgressColumn("on active %", min_value=0, max_value=100,
                                                                       format="%d%%")},
    )  # fmt: skip
    pins = _pins(ctx)
    st.subheader(f"Pins ({pins.height})")
    if pins.height:
        soon = pins.filter(pl.col("days left") < 14).height
        if soon:
            what = "1 pin expires" if soon == 1 else f"{soon} pins expire"
            st.warning(f"{what} within 14 days; those consumers then move to the active version.")
        ui.table(pins)
    else:
        st.caption("No consumer is pinned to a version.")
    st.subheader("Convergence of one definition")
    choices = summary["definition"].to_list()
    ui.take_query("definition", "rollout_definition", choices)
    definition = st.selectbox("Definition", choices, key="rollout_definition")
    if definition:
        _convergence(ctx, definition)


ui.run_page(render)
