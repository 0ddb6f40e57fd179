"""Reports: pick a period, teams and a format; generate the report ``trellis report`` writes; download it."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import streamlit as st

from trellis.dashboard import data, reports, ui
from trellis.dashboard.context import Context

FILE_KEY = "report_file"
LABELS = {"html": "HTML", "md": "Markdown", "pdf": "PDF", "csv": "CSV (zip)", "parquet": "Parquet (zip)",
          "xlsx": "Excel (XLSX)"}  # fmt: skip


def _fallback(ctx: Context, why: str) -> None:
    f = ctx.filters
    st.info(f"{why} Reports are generated with `trellis report`:", icon=":material/terminal:")
    extra = f" --db {ctx.source.db}" if ctx.source.db and not ctx.source.editable else ""
    st.code(reports.cli_command(f.start_at, f.end_at, list(f.teams), "html", f.envs) + extra, language="bash")


def render(ctx: Context) -> None:
    ui.header("Reports", "The platform usage report, for a period and some teams", ctx)
    formats = reports.available()
    if formats is None:
        _fallback(ctx, "The report builder (`trellis/analytics/report/`) is not installed here.")
        return
    if not ctx.source.editable:
        _fallback(ctx, "With the database file open read-only, the dashboard does not build reports.")
        return
    if not ctx.identity.can("read"):
        st.info("Sign in with a token that can read to generate reports.", icon=":material/lock:")
        return
    f = ctx.filters
    counts = data.sql(
        ctx,
        "SELECT (SELECT count(*) FROM deployments) + (SELECT count(*) FROM (SELECT 1 FROM otel_metrics_gauge LIMIT 1))"
        " AS n",
    )
    if not data.scalar(counts, "n", 0):
        ui.empty_state(ctx, "deployments or metrics to report on")
        return
    seen = data.sql(ctx, "SELECT DISTINCT service_namespace AS team, environment FROM deployments")
    options = sorted({*seen["team"].drop_nulls().to_list(), *f.teams})
    env_options = sorted({*seen["environment"].drop_nulls().to_list(), *f.envs})
    with st.form("report"):
        cols = st.columns(2)
        start = cols[0].date_input("From", f.start, key="report_from")
        end = cols[1].date_input("To (included)", f.end, key="report_to")
        teams = st.multiselect("Teams (none: the whole platform; several: one report each)", options,
                               default=list(f.teams), key="report_teams")  # fmt: skip
        envs = st.multiselect("Environments (none: every one)", env_options, default=list(f.envs), key="report_envs")
        fmt = st.selectbox("Format", list(formats), format_func=lambda x: LABELS.get(x, x), key="report_format")
        asked = st.form_submit_button("Generate", type="primary", icon=":material/description:")
    if asked:
        if not isinstance(start, date) or not isinstance(end, date) or end < start:
            st.error("The period ends before it starts.")
            return
        begin = datetime.combine(start, datetime.min.time())
        finish = datetime.combine(end + timedelta(days=1), datetime.min.time())
        with st.status("Generating the report...", expanded=False) as status:
            made = reports.generate(ctx.source.api, ctx.token, begin, finish, teams, fmt, status.write, tuple(envs))
            status.update(label=f"Report ready: {made.name}", state="complete")
        st.session_state[FILE_KEY] = made
    ready = st.session_state.get(FILE_KEY)
    if isinstance(ready, reports.ReportFile):
        st.download_button(f"Download {ready.name} ({len(ready.content) / 1024:,.0f} KiB)", ready.content, ready.name,
                           ready.mime, key="report_download", type="primary", icon=":material/download:")  # fmt: skip
        for note in ready.missing:
            st.caption(f"Missing: {note}")
    st.caption("The same report from the command line:")
    st.code(reports.cli_command(f.start_at, f.end_at, list(f.teams), "html", f.envs), language="bash")


ui.run_page(render)
