"""The platform health section: legacy against managed consumers over time, resource types by use, and dead
inventory.
"""

from __future__ import annotations

import polars as pl

from trellis.analytics.report.chart_specs import chart_spec, time_axis
from trellis.analytics.report.job_section import JobSection
from trellis.analytics.report.model import Chart, Section
from trellis.analytics.report.query import Query
from trellis.analytics.sources import Period


def _fill(section: Section, q: Query, period: Period, team: str | None) -> None:
    legacy = q.table(
        "health_legacy",
        "Legacy against managed consumers over time",
        """SELECT snapshot_at, consumers, legacy_consumers, managed_consumers, legacy_share, legacy_definitions,
                  managed_definitions
           FROM analytics_platform_health WHERE row_type = 'legacy_share' ORDER BY snapshot_at""",
        "The team's consumers; the definitions are counted platform-wide." if team else "",
    )
    types = q.table(
        "health_types",
        "Resource types by use",
        """SELECT usage_rank, type, consumers, requests, definitions
           FROM analytics_platform_health WHERE row_type = 'type' ORDER BY usage_rank""",
    )
    dead = q.table(
        "health_dead",
        "Dead inventory: no consumer for the dead-after period",
        """SELECT row_type AS kind, type, class, definition_id, version, legacy, consumers, last_used_at,
                  unused_since, idle_days
           FROM analytics_platform_health WHERE dead ORDER BY kind, type, class, definition_id, version""",
        "For the team: what none of its workloads used in the dead-after period (the report for every team "
        "shows the platform's dead inventory)."
        if team
        else "",
        order=[pl.col("idle_days").neg(), "kind", "definition_id"],
    )
    section.tables += [legacy, types, dead]
    if legacy.frame.is_empty() and types.frame.is_empty():
        section.missing.append("No catalog definitions or consumers: platform health is empty.")
        return
    if legacy.frame.height:
        last = legacy.frame.row(-1, named=True)
        share = f"{last['legacy_share']:.0%}" if last["legacy_share"] is not None else "no consumers"
        section.summary.append(
            f"At the period's end: {last['consumers']:,} consumers, legacy share {share}; "
            f"{last['legacy_definitions']} legacy and {last['managed_definitions']} managed definitions."
        )
    kinds = dead.frame.group_by("kind").len().sort("kind")
    dead_text = ", ".join(f"{n} {k}s" for k, n in kinds.iter_rows()) or "nothing"
    section.summary.append(f"Dead inventory: {dead_text}.")
    if types.frame.height:
        most, least = types.frame.row(0, named=True), types.frame.row(-1, named=True)
        section.summary.append(
            f"Most used type: {most['type']} ({most['consumers']:,} consumers); "
            f"least used: {least['type']} ({least['consumers']:,})."
        )
    if legacy.frame.height:
        shares = legacy.frame.select("snapshot_at", "legacy_consumers", "managed_consumers").unpivot(
            index="snapshot_at", variable_name="kind", value_name="consumers"
        )
        body = {
            "mark": "area",
            "encoding": {
                "x": time_axis("snapshot_at", "snapshot"),
                "y": {"field": "consumers", "type": "quantitative", "stack": "zero", "title": "consumers"},
                "color": {"field": "kind", "type": "nominal", "title": None},
                "tooltip": [
                    time_axis("snapshot_at", "snapshot"),
                    {"field": "kind", "type": "nominal"},
                    {"field": "consumers", "type": "quantitative"},
                ],
            },
        }
        title = "Consumers on legacy and managed definitions"
        section.charts.append(Chart("health-legacy", title, chart_spec(title, shares, body)))


SECTION = JobSection("platform_health", "Platform health", _fill)

__all__ = ["SECTION"]
