"""The utilization section: usage against requests per workload container and per team, and how much the
requests could shrink.
"""

from __future__ import annotations

import polars as pl

from trellis.analytics.report.chart_specs import bar_chart
from trellis.analytics.report.job_section import JobSection
from trellis.analytics.report.model import Section
from trellis.analytics.report.query import Query
from trellis.analytics.sources import Period


def _fill(section: Section, q: Query, period: Period, team: str | None) -> None:
    where = "WHERE team = $team" if team else ""
    workloads = q.table(
        "utilization_workloads",
        "Usage against requests per workload and container",
        f"""SELECT team, workload, environment, container, resource, unit, pods, samples, usage_avg, usage_p95,
                   usage_max, request_avg, usage_to_request, idle_share, usage_hours, request_hours,
                   recommended_request, recommended_change
            FROM analytics_utilization {where}
            ORDER BY team, workload, environment, container, resource""",
        "CPU in cores, memory in bytes. Recommended request = p95 usage x headroom; a negative change means the "
        "request can shrink. Shown: the largest CPU reductions first.",
        order=[pl.col("resource") != "cpu", "recommended_change", "team", "workload"],
    )
    teams = q.table(
        "utilization_teams",
        "Usage against requests per team",
        f"""SELECT team, resource, unit, count(*) AS containers, sum(usage_hours) AS usage_hours,
                   sum(request_hours) AS request_hours,
                   sum(usage_hours) / nullif(sum(request_hours), 0) AS usage_to_request,
                   count(*) FILTER (WHERE request_avg IS NULL) AS without_request,
                   sum(recommended_change) FILTER (WHERE recommended_change < 0) AS reducible_request
            FROM analytics_utilization {where} GROUP BY ALL ORDER BY team, resource""",
        "Hours are core-hours or byte-hours over all replicas; reducible_request adds up the negative "
        "recommended changes (cores or bytes).",
        order=["resource", "usage_to_request"],
    )
    section.tables += [workloads, teams]
    w = workloads.frame
    if w.is_empty():
        section.missing.append(
            "No container CPU or memory metrics in the period: utilization and container cost are empty."
        )
        return
    for resource, unit in (("cpu", "cores"), ("memory", "GiB")):
        rows = teams.frame.filter(pl.col("resource") == resource)
        if rows.is_empty():
            section.missing.append(f"No {resource} metrics in the period.")
            continue
        used, requested = float(rows["usage_hours"].sum()), float(rows["request_hours"].sum())
        ratio = f"{used / requested:.0%} of requests used" if requested else "no requests reported"
        reducible = float(rows["reducible_request"].sum() or 0.0)
        amount = reducible / (1 << 30) if resource == "memory" else reducible
        section.summary.append(
            f"{resource.upper()}: {w.filter(pl.col('resource') == resource).height:,} containers, {ratio}; "
            f"requests could shrink by {-amount:,.1f} {unit} in all."
        )
    no_request = w.filter(pl.col("request_avg").is_null())
    if no_request.height:
        section.missing.append(f"{no_request.height:,} workload containers report usage but no request.")
    cpu = teams.frame.filter(pl.col("resource") == "cpu").with_columns(
        used=pl.col("usage_hours"), unused=(pl.col("request_hours") - pl.col("usage_hours")).clip(lower_bound=0.0)
    )
    if cpu.height:
        section.charts.append(
            bar_chart(
                "utilization-cpu",
                "CPU core-hours per team: used and requested but unused",
                cpu.select("team", "used", "unused"),
                "team",
                ["used", "unused"],
                "core-hours",
            )
        )


SECTION = JobSection("utilization", "Utilization and right-sizing", _fill)

__all__ = ["SECTION"]
