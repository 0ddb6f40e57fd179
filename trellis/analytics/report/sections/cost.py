"""The cost section: cost per team, per catalog definition and per team and day."""

from __future__ import annotations

import polars as pl

from trellis.analytics.report.chart_specs import bar_chart, line_chart
from trellis.analytics.report.job_section import JobSection
from trellis.analytics.report.model import Section
from trellis.analytics.report.query import Query
from trellis.analytics.report.values import count_label
from trellis.analytics.sources import Period


def _fill(section: Section, q: Query, period: Period, team: str | None) -> None:
    where = " AND team = $team" if team else ""
    teams = q.table(
        "cost_teams",
        "Cost per team for the period",
        f"""SELECT team, currency, cpu_core_hours, memory_gib_hours, resource_hours, cpu_cost, memory_cost,
                   resource_cost, idle_cost, total_cost
            FROM analytics_cost WHERE level = 'team' AND bucket = 'period'{where} ORDER BY team""",
        "OpenCost-style: containers cost max(request, usage) x price; idle cost (requested, unused) is part of "
        "CPU and memory cost.",
        order=[pl.col("total_cost").neg(), "team"],
    )
    definitions = q.table(
        "cost_definitions",
        "Catalog resource cost per definition for the period",
        """SELECT definition_id, currency, resource_hours, resource_cost, total_cost
           FROM analytics_cost WHERE level = 'definition' AND bucket = 'period' ORDER BY definition_id""",
        "The team's own resources of each definition." if team else "",
        order=[pl.col("total_cost").neg(), "definition_id"],
    )
    daily = q.table(
        "cost_daily",
        "Cost per team and day",
        f"""SELECT team, bucket_start AS day, currency, cpu_cost, memory_cost, resource_cost, idle_cost, total_cost
            FROM analytics_cost WHERE level = 'team' AND bucket = 'day'{where} ORDER BY team, day""",
    )
    section.tables += [teams, definitions, daily]
    t = teams.frame
    if t.is_empty():
        section.missing.append("No cost: neither container metrics nor catalog resources in the period.")
        return
    currency = t["currency"][0]
    total, idle = float(t["total_cost"].sum()), float(t["idle_cost"].sum())
    top = t.sort("total_cost", descending=True).row(0, named=True)
    section.summary.append(
        f"{total:,.2f} {currency} in all for {count_label(t.height, 'team')}, "
        f"of which {idle:,.2f} idle ({idle / total:.0%}); "
        f"the largest is {top['team']} ({top['total_cost']:,.2f} {currency})."
        if total
        else "Every cost is zero for the period."
    )
    if definitions.frame.height and definitions.frame["total_cost"].sum() == 0:
        section.missing.append("Catalog resources are priced at zero (see the price table).")
    parts = t.select(
        "team",
        cpu=pl.col("cpu_cost"),
        memory=pl.col("memory_cost"),
        resources=pl.col("resource_cost"),
    )
    section.charts.append(
        bar_chart("cost-teams", f"Cost per team ({currency})", parts, "team", ["cpu", "memory", "resources"], currency)
    )
    if daily.frame.height:
        section.charts.append(
            line_chart(
                "cost-daily", f"Cost per team and day ({currency})", daily.frame, "day", "total_cost", "team", currency
            )
        )


SECTION = JobSection("cost", "Cost", _fill)

__all__ = ["SECTION"]
