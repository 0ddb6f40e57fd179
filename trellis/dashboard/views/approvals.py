"""Approvals and audit: pending proposals with their diff and policy results, approving them, and the
audit log with its hash chain verified."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import streamlit as st

from trellis.catalog import plan_headline
from trellis.dashboard import data, flows, ui
from trellis.dashboard.config import LIVE_SECONDS
from trellis.dashboard.context import Context

RESULT_KEY = "approval_result"
DENY_NOTE = (
    "There is no reject button: to deny a change, do not approve it. It stays pending, and nothing reaches "
    "consumers, until its author or anyone else proposes a newer version, which withdraws it."
)


def _diff_rows(fields: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per field that changes (``params.size``), before and after as text."""

    def text(value: Any) -> str:
        return "" if value is None else value if isinstance(value, str) else json.dumps(value, sort_keys=True)

    rows = [{"field": f["field"], "before": text(f["before"]), "after": text(f["after"])} for f in fields]
    return pl.DataFrame(rows) if rows else pl.DataFrame({"field": [], "before": [], "after": []})


def _proposal(ctx: Context, item: dict[str, Any]) -> None:
    title = f"{item['definition']} · version {item['version']} · proposed by {item['proposed_by']}"
    with st.expander(title, expanded=True):
        st.caption(f"Proposed {str(item['proposed_at'])[:16]} · content {item['content_hash'][:12]}")
        if item["missing"]:
            st.markdown("**Waiting for:** " + "; ".join(item["missing"]))
            if item.get("approvers"):
                st.caption("Who can approve: " + ", ".join(item["approvers"]))
        if "/" not in item["definition"]:  # a definition's version: where it lives and how it rolls out
            links = st.columns(2)
            query = {"definition": item["definition"]}
            links[0].page_link(
                "views/catalog.py", label="The definition", icon=":material/category:", query_params=query
            )
            links[1].page_link("views/rollouts.py", label="Its rollout", icon=":material/sync:", query_params=query)
        if item["approvals"]:
            st.markdown("**Approved by:** " + ", ".join(item["approvals"]))
        st.markdown(f"**Blast radius:** {plan_headline(item['impact'])}")
        st.markdown("**Change**")
        ui.table(_diff_rows(item["fields"]))
        if item["policies"]:
            st.markdown("**Policies**")
            for result in item["policies"]:
                icon = ":material/block:" if result.get("effect") == "deny" else ":material/warning:"
                st.markdown(f"{icon} `{result.get('policy_id')}` ({result.get('effect')}): {result.get('message')}")
        else:
            st.caption("No policy has anything to say about this version.")
        identity = ctx.identity
        key = f"approve_{item['definition']}_{item['version']}"
        if not identity.can_approve:
            reason = ("approving needs a signed-in token with the approve scope" if identity.tokens
                      else "the collector checks no tokens, so nobody can be recorded as the approver")  # fmt: skip
            st.button("Approve", key=key, disabled=True, help=reason)
            st.caption(reason)
        elif identity.name == item["proposed_by"]:
            st.button("Approve", key=key, disabled=True, help="You proposed it; someone else must approve it.")
            st.caption("You proposed this change; someone else must approve it.")
        elif st.button(f"Approve as {identity.name}", key=key, type="primary", icon=":material/check:"):
            result = flows.approve(ctx.backend, item)
            data.clear()
            st.session_state[RESULT_KEY] = f"{item['definition']} version {item['version']}: {result}"
            st.rerun()


@st.fragment(run_every=LIVE_SECONDS)
def _pending(ctx: Context) -> None:
    with ui.guard():
        pending = flows.pending(_LiveReader(ctx))
        st.subheader(f"Pending approvals ({len(pending)})")
        if not pending:
            st.success("Nothing waits for approval.", icon=":material/done_all:")
            return
        me = ctx.identity.name
        if me and st.toggle("Only what waits for me", key="approvals_mine"):
            pending = [item for item in pending if me in item.get("approvers", [])]
            if not pending:
                st.info(f"Nothing waits for {me}.", icon=":material/done_all:")
        for item in pending:
            _proposal(ctx, item)


class _LiveReader:
    """``flows`` reads through the short-lived cache, so the list refreshes on its own."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def call(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        return data.read_live(self.ctx, name, payload)


def _audit(ctx: Context) -> None:
    st.subheader("Audit log")
    cols = st.columns([1, 1, 1, 2])
    limit = cols[0].number_input("Latest entries", 10, 10_000, 500, step=100, key="audit_limit")
    entries = data.read(ctx, "audit", {"limit": int(limit)})["entries"]
    frame = pl.DataFrame(
        [{**e, "diff": json.dumps(e["diff"]) if not isinstance(e["diff"], str) else e["diff"]} for e in entries],
        infer_schema_length=None,
    )
    if frame.height == 0:
        st.info("The audit log is empty: every catalog change will be written here.")
        return
    actors = cols[1].multiselect("Actor", sorted(set(frame["actor"].to_list())), key="audit_actor")
    actions = cols[2].multiselect("Action", sorted(set(frame["action"].to_list())), key="audit_action")
    text = cols[3].text_input("Object contains", key="audit_object", placeholder="pg-prod")
    if actors:
        frame = frame.filter(pl.col("actor").is_in(actors))
    if actions:
        frame = frame.filter(pl.col("action").is_in(actions))
    if text:
        frame = frame.filter(pl.col("object").str.contains(text, literal=True))
    ui.table(frame, height=360)
    st.download_button("Download CSV", frame.write_csv, "audit.csv", "text/csv", key="audit_csv")
    if st.button("Verify the hash chain", key="audit_verify", icon=":material/verified:"):
        answer = ctx.backend.call("verify", {})
        if answer["ok"]:
            st.success(f"The chain holds: {answer['entries']} entries. Head: `{answer['head']}` — keep it elsewhere "
                       "too, to notice if the newest entries are ever deleted.")  # fmt: skip
        else:
            st.error(f"The chain is broken: {answer['problem']} ({answer['entries']} entries).")


def render(ctx: Context) -> None:
    ui.header("Approvals and audit", "Changes waiting for sign-off, and everything that changed", ctx)
    if not data.has(ctx, "catalog_versions"):
        ui.empty_state(ctx, "catalog")
        return
    message = st.session_state.pop(RESULT_KEY, None)
    if message:
        st.success(message, icon=":material/task_alt:")
    st.caption(DENY_NOTE)
    _pending(ctx)
    _audit(ctx)


ui.run_page(render)
