"""Legacy: bring existing resources into the catalog from a Terraform state or a CSV file, see what was
imported and skipped, and watch the legacy share go down."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from trellis.dashboard import charts, data, ui
from trellis.dashboard.context import Context

REPORT_KEY = "legacy_report"


def import_format(file_name: str) -> str:
    """``csv`` for a .csv file, ``terraform`` for a state (``terraform show -json``) otherwise."""
    return "csv" if file_name.lower().endswith(".csv") else "terraform"


def _upload(ctx: Context) -> None:
    st.subheader("Import")
    if not ui.need(ctx, "propose", "import legacy resources"):
        return
    uploaded = st.file_uploader(
        "Terraform state (`terraform show -json`) or the CSV layout of docs/legacy-import.md",
        type=["json", "tfstate", "csv"],
        key="legacy_file",
    )
    namespace = st.text_input("Namespace (keeps several Terraform workspaces apart)", key="legacy_namespace")
    if uploaded is None:
        st.caption("Nothing changes until you press *Import*; *Preview* shows what would.")
        return
    body: dict[str, Any] = {
        "format": import_format(uploaded.name),
        "text": uploaded.getvalue().decode("utf-8", errors="replace"),
        "file": uploaded.name,
        "namespace": namespace.strip() or None,
    }
    cols = st.columns(2)
    if cols[0].button("Preview", key="legacy_preview", icon=":material/visibility:", width="stretch"):
        st.session_state[REPORT_KEY] = ctx.backend.call("import", {**body, "dry_run": True})
    if cols[1].button("Import", key="legacy_import", type="primary", icon=":material/upload:", width="stretch"):
        st.session_state[REPORT_KEY] = ctx.backend.call("import", {**body, "dry_run": False})
        data.clear()
    report = st.session_state.get(REPORT_KEY)
    if isinstance(report, dict) and report.get("file") == uploaded.name:
        _report(report)


def _report(report: dict[str, Any]) -> None:
    changes = report.get("changes") or []
    skipped = report.get("skipped") or []
    verb = "would be" if report.get("dry_run") else "were"
    counts: dict[str, int] = {}
    for change in changes:
        counts[change["action"]] = counts.get(change["action"], 0) + 1
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing"
    (st.info if report.get("dry_run") else st.success)(
        f"{report['file']} ({report['source']}): {summary}; {len(skipped)} skipped — these {verb} the changes."
    )
    if changes:
        ui.table(pl.DataFrame([{k: c.get(k) for k in ("action", "id", "detail")} for c in changes]))
    if skipped:
        st.markdown("**Skipped**")
        ui.table(pl.DataFrame(skipped))
    if report.get("vanished"):
        st.warning("No longer in the file (left alone): " + ", ".join(report["vanished"]))


def _share(ctx: Context) -> None:
    st.subheader("Legacy against managed")
    answer, covers = data.answer(ctx, "platform_health")
    frame = (
        answer.filter(pl.col("row_type") == "legacy_share")
        .select("snapshot_at", "legacy_consumers", "managed_consumers", "legacy_share", "legacy_definitions",
                "managed_definitions")
        .sort("snapshot_at")
    )  # fmt: skip
    ui.covers(covers)
    if frame.height == 0:
        st.info("No snapshot in the selected range.")
        return
    last = frame.row(-1, named=True)
    cols = st.columns(3)
    cols[0].metric("Legacy share of consumers", ui.percent(last["legacy_share"], 1))
    cols[1].metric("Legacy definitions", last["legacy_definitions"])
    cols[2].metric("Managed definitions", last["managed_definitions"])
    consumers = frame.unpivot(
        index="snapshot_at", on=["legacy_consumers", "managed_consumers"], variable_name="kind", value_name="consumers"
    ).with_columns(pl.col("kind").str.replace("_consumers", ""))
    definitions = frame.unpivot(
        index="snapshot_at", on=["legacy_definitions", "managed_definitions"], variable_name="kind", value_name="n"
    ).with_columns(pl.col("kind").str.replace("_definitions", ""))
    left, right = st.columns(2)
    charts.show(
        left,
        charts.stacked_area(consumers, "snapshot_at", "consumers", "kind", "Consumers", "consumers"),
        width="stretch",
    )
    charts.show(
        right,
        charts.stacked_area(definitions, "snapshot_at", "n", "kind", "Definitions", "definitions"),
        width="stretch",
    )


def _inventory(ctx: Context) -> None:
    frame = data.sql(
        ctx,
        """SELECT d.id AS definition, d.type, v.version, v.state, v.spec->'provenance'->>'source' AS source,
                  v.spec->'provenance'->>'file' AS file, v.spec->'provenance'->>'address' AS address,
                  d.created_at
           FROM catalog_definitions d JOIN catalog_versions v ON v.definition_id = d.id
           WHERE d.legacy AND v.state IN ('active', 'proposed', 'deprecated')
           QUALIFY row_number() OVER (PARTITION BY d.id ORDER BY v.version DESC) = 1
           ORDER BY d.id""",
    )
    st.subheader(f"Legacy definitions ({frame.height})")
    if frame.height:
        ui.table(frame)
    else:
        st.caption("None yet: import a Terraform state or a CSV file above.")


def render(ctx: Context) -> None:
    ui.header("Legacy", "Resources that existed before the catalog, and how many still serve", ctx)
    data.ahead(ctx, "platform_health")
    if not data.has(ctx, "catalog_definitions"):
        ui.empty_state(ctx, "catalog")
        return
    _upload(ctx)
    _inventory(ctx)
    _share(ctx)


ui.run_page(render)
