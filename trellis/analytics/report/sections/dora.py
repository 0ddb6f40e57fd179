"""The DORA section: deployment frequency, lead time, change failure rate, recovery and rework per team, for
the period and week by week, with the bands of each production environment.
"""

from __future__ import annotations

import polars as pl

from trellis.analytics.report.chart_specs import line_chart
from trellis.analytics.report.job_section import JobSection
from trellis.analytics.report.model import Section
from trellis.analytics.report.query import Query
from trellis.analytics.report.values import count_label
from trellis.analytics.sources import Period


def _fill(section: Section, q: Query, period: Period, team: str | None) -> None:
    where = "level = 'team'" + (" AND service_namespace = $team" if team else "")
    summary = q.table(
        "dora_teams",
        "DORA per team and environment, for the period",
        f"""SELECT service_namespace AS team, environment, production, deployments, successful_deployments,
                   deployment_days, median_deployment_days_per_week, deployment_frequency_band,
                   lead_time_changes, lead_time_median_hours, lead_time_band, failed_deployments,
                   change_failure_rate, change_failure_rate_band, incidents, recoveries, unrecovered_failures,
                   recovery_median_hours, recovery_band, rework_deployments, rework_rate
            FROM analytics_dora WHERE {where} AND bucket = 'period'
            ORDER BY team, environment""",
        "Bands by the 2023 DORA benchmarks (elite, high, medium, low); lead time, change failure rate, recovery "
        "and rework count production environments only.",
        order=[pl.col("production").not_(), "team", "environment"],
    )
    weekly = q.table(
        "dora_weekly",
        "DORA per team and environment, week by week",
        f"""SELECT service_namespace AS team, environment, production, bucket_start AS week_start,
                   bucket_end AS week_end, deployments, successful_deployments, deployments_per_day, deployment_days,
                   lead_time_median_hours, change_failure_rate, recovery_median_hours, rework_rate
            FROM analytics_dora WHERE {where} AND bucket = 'week'
            ORDER BY team, environment, week_start""",
        "Weeks run Monday to Monday (UTC); the first and last are clipped to the period.",
    )
    section.tables += [summary, weekly]
    frame = summary.frame
    if frame.is_empty():
        section.missing.append("No deployments or incidents in the period: the DORA tables are empty.")
        return
    production = frame.filter(pl.col("production"))
    if production.is_empty():
        section.missing.append(
            "No production deployments: lead time, change failure rate, recovery and rework are not available."
        )
    else:
        for band_column, label in (
            ("deployment_frequency_band", "deployment frequency"),
            ("lead_time_band", "lead time"),
            ("change_failure_rate_band", "change failure rate"),
            ("recovery_band", "recovery time"),
        ):
            counts = production.group_by(band_column).len().drop_nulls(band_column)
            if counts.is_empty():
                continue
            by_band = dict(zip(counts[band_column], counts["len"], strict=True))
            text = ", ".join(f"{by_band[b]} {b}" for b in ("elite", "high", "medium", "low") if b in by_band)
            section.summary.append(f"Production team environments by {label} band: {text}.")
        if int(production["incidents"].sum()) == 0:
            section.missing.append(
                "No production incidents in the period: recovery comes from failed deployments only."
            )
    total = int(frame["deployments"].sum())
    section.summary.insert(
        0, f"{total:,} deployments by {count_label(frame['team'].n_unique(), 'team')} in the period."
    )
    week = weekly.frame.filter(pl.col("production")) if production.height else weekly.frame
    where_label = "production" if production.height else "all environments"
    per_team = week.group_by("team", "week_start").agg(
        pl.col("deployments_per_day").sum(), pl.col("lead_time_median_hours").max()
    )
    section.charts.append(
        line_chart(
            "dora-weekly-deployments",
            f"Successful deployments per day, week by week ({where_label})",
            per_team,
            "week_start",
            "deployments_per_day",
            "team",
            "deployments per day",
        )
    )
    if production.height and per_team["lead_time_median_hours"].drop_nulls().len():
        section.charts.append(
            line_chart(
                "dora-weekly-lead-time",
                "Median lead time per week (production, hours)",
                per_team.drop_nulls("lead_time_median_hours"),
                "week_start",
                "lead_time_median_hours",
                "team",
                "hours",
            )
        )


SECTION = JobSection("dora", "Delivery performance (DORA)", _fill)

__all__ = ["SECTION"]
