"""The demand section: requests (catalog resolutions) per resource type and class and per team, resolved
and missed.
"""

from __future__ import annotations

import polars as pl

from trellis.analytics.report.chart_specs import bar_chart
from trellis.analytics.report.job_section import JobSection
from trellis.analytics.report.model import Section
from trellis.analytics.report.query import Query
from trellis.analytics.sources import Period


def _fill(section: Section, q: Query, period: Period, team: str | None) -> None:
    combos = "level = 'team_combo' AND app = $team" if team else "level = 'combo'"
    kinds = q.table(
        "demand_types",
        "Requests per resource type and class",
        f"""SELECT type, class, requests, resolved, misses, miss_share, default_requests, default_share,
                   consumers, environments, definitions, first_requested_at, last_requested_at, last_miss_reason
            FROM analytics_demand WHERE {combos} ORDER BY type, class""",
        "A request is one resolution: a binding when a definition matched, a miss when none did.",
        order=[pl.col("requests").neg(), "type", "class"],
    )
    teams = q.table(
        "demand_teams",
        "Requests per team",
        f"""SELECT app AS team, requests, resolved, misses, miss_share, default_requests, default_share, consumers,
                   environments, definitions, last_miss_reason
            FROM analytics_demand WHERE level = 'team'{" AND app = $team" if team else ""}
            ORDER BY team""",
        order=[pl.col("misses").neg(), "team"],
    )
    section.tables += [kinds, teams]
    k = kinds.frame
    if k.is_empty():
        section.missing.append("No catalog resolutions (bindings or misses) in the period: demand is empty.")
        return
    requests, misses = int(k["requests"].sum()), int(k["misses"].sum())
    section.summary.append(
        f"{requests:,} requests for {k.select('type', 'class').n_unique()} type and class combinations; "
        f"{misses:,} misses ({misses / requests:.1%}), "
        f"{int(k['default_requests'].sum()):,} fell back to the default class."
    )
    missed = k.filter(pl.col("misses") > 0).sort("misses", descending=True)
    if missed.height:
        top = missed.row(0, named=True)
        section.summary.append(f"Most missed: {top['type']}/{top['class']} ({top['misses']:,} misses).")
    chart = k.with_columns(combination=pl.col("type") + "/" + pl.col("class")).select(
        "combination", "resolved", "misses"
    )
    section.charts.append(
        bar_chart(
            "demand-requests",
            "Requests per type and class: resolved and missed",
            chart,
            "combination",
            ["resolved", "misses"],
            "requests",
            fmt=",d",
        )
    )


SECTION = JobSection("demand", "Demand and misses", _fill)

__all__ = ["SECTION"]
