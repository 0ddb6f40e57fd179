"""Connectors: per webhook source (GitHub, GitLab, PagerDuty, Opsgenie), what arrived, what became of it and
why, so that a hook that stopped sending or keeps being refused is seen (docs/connectors.md); and the latest
notifications the collector sent, with their delivery (docs/notifications.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from trellis.dashboard import charts, data, ui
from trellis.dashboard.context import Context

IN_RANGE = (
    "received_at >= timezone('UTC', CAST($f_start AS TIMESTAMP)) "
    "AND received_at < timezone('UTC', CAST($f_end AS TIMESTAMP))"
)


def _moment(epoch: object) -> str:
    return f"{datetime.fromtimestamp(float(epoch), UTC):%Y-%m-%d %H:%M}" if isinstance(epoch, int | float) else ""


def _sources(ctx: Context) -> None:
    """Every configured source since the collector started: the counts and the last refusal's reason."""
    summary = data.webhooks(ctx)
    if summary is None:
        st.caption("Refused deliveries are counted by a running collector only; this file shows what was stored.")
        return
    if not summary:
        st.info("No source is configured: give the collector a connectors file (`--connectors-file`).")
        return
    frame = pl.DataFrame(summary).with_columns(
        pl.col("last_received_at").map_elements(_moment, return_dtype=pl.String),
        pl.col("last_refused_at").map_elements(_moment, return_dtype=pl.String),
    )
    st.subheader("Sources")
    columns = ["source", "accepted", "ignored", "unmapped", "last_received_at", "refused", "last_refused_at",
               "last_refused_reason"]  # fmt: skip
    ui.table(frame.select(columns).rename({"refused": "refused since start"}))
    refused = frame.filter(pl.col("refused") > 0)
    for row in refused.iter_rows(named=True):
        st.warning(f"{row['source']}: {row['refused']} deliveries refused since the collector started; "
                   f"the last: {row['last_refused_reason']}", icon=":material/gpp_bad:")  # fmt: skip


def _in_range(ctx: Context) -> None:
    counts = data.sql(
        ctx, f"SELECT source, outcome, count(*) AS deliveries FROM webhook_deliveries WHERE {IN_RANGE} GROUP BY ALL"
    )
    st.subheader("Deliveries in the range")
    if counts.height == 0:
        st.info("No delivery was stored in the selected range.")
        return
    charts.show(
        st,
        charts.bars(counts, "source", "deliveries", "Deliveries by outcome", "deliveries", "outcome", ",.0f"),
        width="stretch",
    )
    unplaced = data.sql(
        ctx,
        f"""SELECT received_at, source, event, outcome, reason, delivery_id FROM webhook_deliveries
            WHERE {IN_RANGE} AND outcome <> 'accepted' ORDER BY received_at DESC""",
        limit=500,
    )
    if unplaced.height:
        st.markdown(f"**{unplaced.height:,} deliveries stored but not counted, and why** (the latest 500)")
        ui.table(unplaced)


def _notifications(ctx: Context) -> None:
    """The latest notifications the rules of the notifications file raised, and how their delivery went."""
    st.subheader("Notifications")
    if not data.has(ctx, "notifications"):
        st.info("This database has no notifications table yet: the collector creates it when it starts.")
        return
    sent = data.sql(
        ctx,
        """SELECT created_at, rule, event, subject, channel, status, attempts, sent_at, next_attempt_at, last_error,
                  cleared_at FROM notifications ORDER BY created_at DESC, channel""",
        limit=200,
    )
    if sent.height == 0:
        st.info("No notification was raised: give the collector a notifications file (`--notifications-file`).")
        return
    failed = sent.filter(pl.col("status") == "failed").height
    if failed:
        st.warning(f"{failed} of the latest notifications failed on every attempt; the table says why.",
                   icon=":material/notifications_off:")  # fmt: skip
    ui.table(sent)


def render(ctx: Context) -> None:
    ui.header("Connectors", "Webhooks from delivery and incident tools, and the notifications sent", ctx)
    st.caption("Every team: a delivery's team is known only once the connectors file maps it to a workload.")
    if data.has(ctx, "webhook_deliveries"):
        _sources(ctx)
        _in_range(ctx)
    else:
        ui.empty_state(ctx, "webhook deliveries")
    _notifications(ctx)


ui.run_page(render)
