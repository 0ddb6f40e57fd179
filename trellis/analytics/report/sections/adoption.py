"""The adoption section: consumers per definition version at the period's end, consumers behind the active
version, pins, and the share on the active version over time.
"""

from __future__ import annotations

import polars as pl

from trellis.analytics.report.chart_specs import line_chart
from trellis.analytics.report.job_section import JobSection
from trellis.analytics.report.model import Section
from trellis.analytics.report.query import Query
from trellis.analytics.sources import Period


def _fill(section: Section, q: Query, period: Period, team: str | None) -> None:
    versions = q.table(
        "adoption_versions",
        "Consumers per definition version at the period's end",
        """SELECT definition_id, version, active_version, is_active, consumers, share_of_consumers, share_on_active
            FROM analytics_adoption WHERE row_type = 'version' AND snapshot_at = $period_end
            ORDER BY definition_id, version""",
        "The team's consumers only; which version is active is platform-wide." if team else "",
        order=[pl.col("consumers").neg(), "definition_id", "version"],
    )
    app = " AND app = $team" if team else ""
    behind = q.table(
        "adoption_behind",
        "Consumers behind the active version",
        f"""SELECT app AS team, env, workload, resource, definition_id, version, active_version, source, since,
                   behind_since, behind_days
            FROM analytics_adoption WHERE row_type = 'consumer'{app}
            ORDER BY team, env, workload, resource""",
        order=[pl.col("behind_days").neg(), "team", "workload"],
    )
    pins = q.table(
        "adoption_pins",
        "Pins",
        f"""SELECT pin_id, app AS team, env, workload, resource, definition_id, version, pin_expires_at,
                   pin_expires_in_days, expiring_soon, pin_owner, pin_reason
            FROM analytics_adoption WHERE row_type = 'pin'{app} ORDER BY pin_expires_at, pin_id""",
    )
    trend, _ = q.frame(
        "adoption_trend",
        """SELECT snapshot_at, definition_id, max(share_on_active) AS share_on_active,
                  CAST(sum(consumers) AS BIGINT) AS consumers
           FROM analytics_adoption WHERE row_type = 'version' GROUP BY ALL ORDER BY snapshot_at, definition_id""",
    )
    section.tables += [versions, behind, pins]
    if versions.frame.is_empty():
        section.missing.append("No catalog consumers or activated versions: adoption is empty.")
        return
    v = versions.frame
    consumers = int(v["consumers"].sum())
    on_active = int(v.filter(pl.col("is_active"))["consumers"].sum())
    share = f" ({on_active / consumers:.0%})" if consumers else ""
    section.summary.append(
        f"{consumers:,} consumers of {v['definition_id'].n_unique()} definitions at the period's end; "
        f"{on_active:,} on the active version{share}."
    )
    section.summary.append(
        f"{behind.frame.height:,} consumers behind the active version"
        + (f" (team {team})" if team else "")
        + f"; {pins.frame.filter(pl.col('expiring_soon')).height} of {pins.frame.height} pins expire soon."
    )
    trend = trend.drop_nulls("share_on_active").rename({"definition_id": "definition"})
    if trend.height:
        section.charts.append(
            line_chart(
                "adoption-share-on-active",
                "Share of consumers on the active version",
                trend,
                "snapshot_at",
                "share_on_active",
                "definition",
                "share",
                y_format=".0%",
            )
        )


SECTION = JobSection("adoption", "Adoption and convergence", _fill)

__all__ = ["SECTION"]
