"""Catalog: browse types, definitions, versions, classes and matching rules; ask why a workload gets a
definition; create or change a definition, see its blast radius, and propose it."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import polars as pl
import streamlit as st

from trellis.catalog import diff_text, plan_headline
from trellis.catalog.builtin_types import BUILTIN_TYPES
from trellis.dashboard import data, editor, flows, ui
from trellis.dashboard.context import Context

NEW = "(new definition)"
REVIEW_KEY = "edit_review"
RESULT_KEY = "edit_result"


def _definitions(ctx: Context) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = data.read(ctx, "definitions")["definitions"]
    return result


def _types(ctx: Context) -> dict[str, Any]:
    return editor.resource_types(data.read(ctx, "export")["documents"])


def _browse(ctx: Context, definitions: list[dict[str, Any]]) -> None:
    consumers = data.sql(
        ctx,
        """SELECT definition_id, count(*) AS consumers FROM (
               SELECT definition_id FROM catalog_bindings
               QUALIFY row_number() OVER (PARTITION BY app, env, workload, resource ORDER BY resolved_at DESC) = 1)
           GROUP BY definition_id""",
    )
    counts = dict(zip(consumers["definition_id"].to_list(), consumers["consumers"].to_list(), strict=True))
    rows = []
    for d in definitions:
        versions = d.get("versions") or []
        active = [v["version"] for v in versions if v["state"] == "active"]
        rows.append({
            "definition": d["id"], "type": d["type"], "legacy": bool(d.get("legacy")),
            "active": active[0] if active else None, "latest": max((v["version"] for v in versions), default=None),
            "pending": sum(1 for v in versions if v["state"] == "proposed"), "consumers": counts.get(d["id"], 0),
            "description": d.get("description") or "",
        })  # fmt: skip
    ui.table(pl.DataFrame(rows) if rows else pl.DataFrame())
    if not definitions:
        return
    ids = [d["id"] for d in definitions]
    ui.take_query("definition", "browse_definition", ids)
    choice = st.selectbox("Versions of", ids, key="browse_definition")
    chosen = next(d for d in definitions if d["id"] == choice)
    versions = chosen.get("versions") or []
    table = [{k: _moment(v.get(k)) for k in ("version", "state", "proposed_by", "proposed_at", "activated_at",
                                               "deadline")} for v in versions]  # fmt: skip
    ui.table(pl.DataFrame(table, infer_schema_length=None))
    if versions:
        numbers = [v["version"] for v in versions]
        shown = st.segmented_control("Spec of version", numbers, default=numbers[-1], key=f"spec_{choice}")
        shown = shown or numbers[-1]
        spec = next(v["spec"] for v in versions if v["version"] == shown)
        st.code(editor.to_yaml(spec), language="yaml")


def _moment(value: Any) -> Any:
    """An ISO time from the API as 'YYYY-MM-DD HH:MM'; anything else as it is."""
    if isinstance(value, str) and len(value) >= 16 and value[10] == "T":
        return value[:16].replace("T", " ")
    return value


def _rules(definitions: list[dict[str, Any]]) -> pl.DataFrame:
    rows = []
    for d in definitions:
        version = editor.editable_version(d)
        if version is None or version["state"] not in ("active", "deprecated"):
            continue
        for rule in version["spec"].get("criteria") or []:
            row = {"definition": d["id"], "type": d["type"], "version": version["version"]}
            row.update({k: rule.get(k) for k in editor.CRITERION_FIELDS})
            row["class"] = row["class"] or "default"
            rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def _types_and_rules(ctx: Context, definitions: list[dict[str, Any]]) -> None:
    types = _types(ctx)
    rows = [
        {
            "type": name,
            "built in": name in BUILTIN_TYPES,
            "outputs": ", ".join(f"{o}{' (secret)' if out.secret else ''}" for o, out in spec.outputs.items()),
            "params": ", ".join(spec.params_schema.get("properties", {})),
        }
        for name, spec in types.items()
    ]
    st.markdown("**Resource types**")
    ui.table(pl.DataFrame(rows))
    rules = _rules(definitions)
    if rules.height:
        st.markdown("**Classes offered** (by the active versions)")
        classes = rules.group_by("type", "class").agg(pl.col("definition").unique().sort().str.join(", "))
        ui.table(classes.sort("type", "class"))
        st.markdown("**Matching rules** — the most specific wins: res_id, then env_id, app_id, env_type")
        ui.table(rules)


def _explain(ctx: Context, definitions: list[dict[str, Any]]) -> None:
    known = data.sql(
        ctx,
        """SELECT DISTINCT app, env, env_type, workload, resource, type, class FROM catalog_bindings
           ORDER BY app, env, workload, resource LIMIT 2000""",
    )
    options = ["(type it in)"] + [
        f"{r['app']} / {r['env']} / {r['workload']}.{r['resource']} ({r['type']}, {r['class']})"
        for r in known.iter_rows(named=True)
    ]
    picked = st.selectbox("A consumer the catalog has resolved", options, key="explain_pick")
    row = known.row(options.index(picked) - 1, named=True) if picked != options[0] else {}
    with st.form("explain"):
        cols = st.columns(3)
        type_ = cols[0].selectbox("Type", sorted(_types(ctx)), index=_index(sorted(_types(ctx)), row.get("type")))
        class_ = cols[1].text_input("Class", row.get("class") or "default")
        env_type = cols[2].text_input("Environment type", row.get("env_type") or "production")
        more = st.columns(4)
        app = more[0].text_input("App", row.get("app") or "")
        env = more[1].text_input("Environment", row.get("env") or "")
        workload = more[2].text_input("Workload", row.get("workload") or "")
        resource = more[3].text_input("Resource", row.get("resource") or "db")
        asked = st.form_submit_button("Explain", type="primary")
    if not asked:
        return
    answer = ctx.backend.call(
        "explain",
        {"type": type_, "class": class_, "app": app, "env": env, "env_type": env_type,
         "res_id": f"{workload}.{resource}"},
    )  # fmt: skip
    if answer["definition"]:
        st.success(f"**{answer['definition']}** serves it, by the rule {answer['rule']}.")
    else:
        st.warning("No definition serves this context: resolving it would be recorded as a miss.")
    st.markdown("\n".join(f"- {line}" for line in answer["lines"]))


def _index(options: list[str], value: object) -> int:
    return options.index(value) if value in options else 0


def _editor(ctx: Context, definitions: list[dict[str, Any]]) -> None:
    if not ui.need(ctx, "propose", "create or change definitions"):
        return
    types = _types(ctx)
    last = st.session_state.pop(RESULT_KEY, None)
    if last:
        st.success(last["message"])
        for warning in last.get("warnings", []):
            st.warning(warning)
        st.page_link("views/approvals.py", label="Pending approvals", icon=":material/task_alt:")
    ids = [d["id"] for d in definitions]
    choice = st.selectbox("Definition to change", [NEW, *ids], key="edit_choice")
    if choice == NEW:
        type_ = st.selectbox("Type", sorted(types), key="edit_new_type")
        draft, base, chosen = editor.new_draft(type_, types), None, None
    else:
        chosen = next(d for d in definitions if d["id"] == choice)
        draft, base = editor.draft_from(chosen), editor.base_version(chosen)
        st.caption(f"Starting from version {editor.editable_version(chosen)['version']}; the proposal will be "  # type: ignore[index]
                   f"version {(base or 0) + 1} and is refused if someone proposes first.")  # fmt: skip
    prefix = f"ed_{choice}_{base}_{draft.type}"
    mode = st.segmented_control("Editor", ["Form", "YAML"], default="Form", key="edit_mode") or "Form"
    draft = _carried_over(prefix, mode, draft)
    try:
        document = _form(copy.deepcopy(draft), prefix, types, choice == NEW) if mode == "Form" else _yaml(draft, prefix)
    except editor.EditError as exc:
        st.error(f"Not valid yet: {exc}", icon=":material/edit_off:")
        return
    st.session_state[f"{prefix}_working"] = document
    if not (document.get("metadata") or {}).get("id"):
        st.info("Give the new definition an id to check it.", icon=":material/edit:")
        return
    _review(ctx, document, types, base)


FORM_FIELDS = ("id", "description", "type", "driver", "params", "outputs", "criteria")


def _carried_over(prefix: str, mode: str, draft: editor.Draft) -> editor.Draft:
    """The edit so far, across a switch between Form and YAML: the draft the form starts from (kept until
    the next switch, so the form's own widgets keep their state), and the YAML seeded with the edit."""
    was, working = st.session_state.get(f"{prefix}_mode"), st.session_state.get(f"{prefix}_working")
    st.session_state[f"{prefix}_mode"] = mode
    if was is not None and was != mode and working is not None:
        if mode == "YAML":
            st.session_state[f"{prefix}_yaml"] = editor.to_yaml(working)
        else:
            for name in FORM_FIELDS:
                st.session_state.pop(f"{prefix}_{name}", None)
            st.session_state[f"{prefix}_draft"] = editor.draft_from_document(working)
    kept: editor.Draft = st.session_state.setdefault(f"{prefix}_draft", draft)
    return kept


def _form(draft: editor.Draft, prefix: str, types: dict[str, Any], new: bool) -> dict[str, Any]:
    cols = st.columns([1, 2])
    draft.id = cols[0].text_input("Id", draft.id, disabled=not new, key=f"{prefix}_id",
                                  help="Lower case letters, digits, '.', '_' and '-'.")  # fmt: skip
    draft.description = cols[1].text_input("Description", draft.description, key=f"{prefix}_description")
    cols = st.columns([1, 1, 2])
    cols[0].text_input("Type", draft.type, disabled=True, key=f"{prefix}_type", help="Types never change.")
    draft.driver = cols[1].radio("Driver", ["static", "template"], index=["static", "template"].index(draft.driver),
                                 key=f"{prefix}_driver", horizontal=True)  # fmt: skip
    draft.params = cols[2].text_area("Params (YAML)", draft.params, key=f"{prefix}_params", height=110)
    st.markdown("**Outputs** — secrets as references such as `${secret:vault/path#key}`; templates may use "
                "`{{ context.app }}`, `{{ context.env }}`, `{{ params.size }}`")  # fmt: skip
    outputs = st.data_editor(
        pd.DataFrame(draft.outputs or [{"name": "", "value": ""}], columns=["name", "value"]),
        num_rows="dynamic", key=f"{prefix}_outputs", width="stretch",
    )  # fmt: skip
    st.markdown("**Matching rules** — an empty cell matches anything; an empty class means `default`")
    criteria = st.data_editor(
        pd.DataFrame(draft.criteria or [dict.fromkeys(editor.CRITERION_FIELDS)], columns=list(editor.CRITERION_FIELDS),
                     dtype="string"),
        num_rows="dynamic", key=f"{prefix}_criteria", width="stretch",
    )  # fmt: skip
    draft.outputs = outputs.to_dict("records")
    draft.criteria = criteria.to_dict("records")
    return editor.document_from(draft)


def _yaml(draft: editor.Draft, prefix: str) -> dict[str, Any]:
    key = f"{prefix}_yaml"
    if key not in st.session_state:
        st.session_state[key] = editor.to_yaml(editor.document_from(draft))
    text = st.text_area("ResourceDefinition (YAML)", height=420, key=key)
    return editor.document_from_yaml(text)


def _review(ctx: Context, document: dict[str, Any], types: dict[str, Any], base: int | None) -> None:
    try:
        model = editor.check(document, types)
    except editor.EditError as exc:
        st.error(f"Not valid yet: {exc}", icon=":material/edit_off:")
        return
    sent = editor.payload(model)
    review = st.session_state.get(REVIEW_KEY)
    reviewed = isinstance(review, dict) and review.get("document") == sent and review.get("base") == base
    cols = st.columns(2)
    if cols[0].button("Check the blast radius", key="edit_plan", icon=":material/radar:", width="stretch"):
        impact = flows.blast_radius(ctx.backend, sent, types)
        st.session_state[REVIEW_KEY] = {"document": sent, "base": base, "impact": impact}
        st.rerun()
    submit = cols[1].button(
        "Submit the proposal", key="edit_submit", type="primary", icon=":material/send:", disabled=not reviewed,
        width="stretch", help=None if reviewed else "Check the blast radius of this exact change first.",
    )  # fmt: skip
    if not reviewed:
        st.info("Valid. Check its blast radius before submitting.", icon=":material/check:")
        return
    assert isinstance(review, dict)
    _show_blast_radius(review["impact"])
    if submit:
        answer = flows.propose(ctx.backend, sent, types, base)
        data.clear()
        st.session_state.pop(REVIEW_KEY, None)
        st.session_state[RESULT_KEY] = {
            "message": f"{answer['id']}: {answer['action']}. {answer.get('detail') or ''}".strip(),
            "warnings": answer.get("warnings") or [],
        }
        st.rerun()


def _show_blast_radius(answer: dict[str, Any]) -> None:
    consumers, pending = answer["consumers"], answer["pending"]
    if not consumers:
        st.success(f"Blast radius: {plan_headline(answer['summary'])}.", icon=":material/radar:")
    else:
        st.warning(f"Blast radius: {plan_headline(answer['summary'])}.", icon=":material/radar:")
        rows = [
            {"app": c["app"], "env": c["env"], "workload": c["workload"], "resource": c["resource"],
             "change": c["change"], "from": f"{c['definition_before']}@{c['version_before']}",
             "to": c["definition_after"] or "(nothing)", "params": diff_text(c["params"]),
             "outputs": diff_text(c["outputs"])}
            for c in consumers
        ]  # fmt: skip
        ui.table(pl.DataFrame(rows), key="blast_radius")
    if pending:
        with st.expander(f"Already pending from other changes, not from this one ({len(pending)})"):
            rows = [
                {"app": p["app"], "env": p["env"], "workload": p["workload"], "resource": p["resource"],
                 "recorded": f"{p['recorded_definition']}@{p['recorded_version']}",
                 "today": f"{p['definition'] or '(nothing)'}@{p['version']}"}
                for p in pending
            ]  # fmt: skip
            ui.table(pl.DataFrame(rows), key="blast_radius_pending")


def render(ctx: Context) -> None:
    ui.header("Catalog", "Types, definitions and the rules that pick them", ctx)
    if not data.has(ctx, "catalog_definitions"):
        ui.empty_state(ctx, "catalog")
        return
    definitions = _definitions(ctx)
    tabs = st.tabs(["Definitions", "Types, classes and rules", "Why this definition?", "Create or change"])
    with tabs[0]:
        if not definitions:
            st.info("No definitions yet: apply some with `trellis resources apply -f catalog/`, or create one in "
                    "the *Create or change* tab.", icon=":material/inbox:")  # fmt: skip
        _browse(ctx, definitions)
    with tabs[1]:
        _types_and_rules(ctx, definitions)
    with tabs[2]:
        _explain(ctx, definitions)
    with tabs[3]:
        _editor(ctx, definitions)


ui.run_page(render)
