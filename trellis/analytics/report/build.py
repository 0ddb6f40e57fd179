"""How a report is built from the ``analytics_*`` tables: the about part, then one section per job.

A report is built by running read-only SQL over the analytics tables (and a few counts over the store's own
tables) through a ``Reader``: a running collector's ``/api/v1/query`` or a database file (``readers``). The
sections follow the jobs of ``trellis.analytics.registry.JOBS``, each job's section found by the job's name
in ``sections.SECTIONS``: adding a job never shifts another job's section, and a job without one is said to
have none.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import polars as pl

from trellis.analytics.job import Job
from trellis.analytics.registry import JOBS
from trellis.analytics.report.about import read_coverage, read_inputs, section_teams
from trellis.analytics.report.model import Reader, Report, Section
from trellis.analytics.report.query import Query
from trellis.analytics.report.sections import SECTIONS
from trellis.analytics.sources import Period


def build_report(reader: Reader, period: Period, team: str | None = None, title: str | None = None) -> Report:
    """Read the analytics tables (already computed for ``period``) and assemble the report."""
    q = Query(reader, {"team": team, "period_start": period.start, "period_end": period.end})
    coverage = read_coverage(q, period)
    inputs = read_inputs(q, period, team)
    sections = [_section(q, name, job, period, team) for name, job in JOBS.items()]
    return Report(
        title=title or ("Platform usage report" + (f": {team}" if team else "")),
        period=period,
        team=team,
        generated_at=datetime.now(UTC).replace(tzinfo=None, microsecond=0),
        source=reader.source,
        teams=[team] if team else section_teams(sections),
        coverage=coverage,
        inputs=inputs,
        missing=_missing(q, coverage, inputs, sections, team),
        sections=sections,
    )


def _section(q: Query, name: str, job: Job, period: Period, team: str | None) -> Section:
    """The job's own section; one that only says what is missing when the job has none or never ran."""
    found = SECTIONS.get(name)
    if found is None:
        return Section(name, name, name, missing=[f"The {name} job has no report section: {job.table} is not shown."])
    if job.table not in q.available:
        return Section(name, name, name, missing=[f"{job.table} does not exist: the {name} job never ran."])
    return found.build(q, period, team)


def _missing(
    q: Query, coverage: pl.DataFrame, inputs: pl.DataFrame, sections: list[Section], team: str | None
) -> list[str]:
    """The report's missing-data notes: no inputs first, then each section's, then the tables' own."""
    counts = dict(zip(inputs["data"], inputs["rows"], strict=True)) if inputs.height else {}
    missing: list[str] = []
    if counts.get("metric points (gauges)", 0) + counts.get("metric points (sums)", 0) == 0:
        missing.append("No metric points in the period (no utilization metrics).")
    if counts.get("deployments", 0) == 0:
        missing.append("No deployments in the period.")
    missing += [note for section in sections for note in section.missing]
    empty_jobs = coverage.filter(pl.col("status") == "empty")["job"].to_list()
    if empty_jobs:
        missing.append(f"Jobs with empty results for the period: {', '.join(empty_jobs)}.")
    stale = coverage.filter(pl.col("status") == "other period")["job"].to_list()
    if stale:
        missing.append(f"Computed for another period than the report's: {', '.join(stale)}.")
    if team:
        without = [s.title for s in sections if s.tables and all(t.frame.is_empty() for t in s.tables)]
        if without:
            missing.append(f"Team {team} has no rows in: {', '.join(without)}.")
    if q.truncated:
        missing.append(f"Tables cut at the query row limit ({q.reader.row_limit:,}): {', '.join(q.truncated)}.")
    return missing


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_report(reader: Any, period: Period, team: str | None, progress: Callable[[str], None] = _say) -> Report:
    """Make sure every job holds the period, then build the report (again, when a scheduled run of the
    collector replaced a table in the meantime)."""
    report = None
    for _ in range(3):
        reader.prepare(period, progress)
        progress(f"reading the analytics tables ({reader.source})")
        report = build_report(reader, period, team)
        if not reader.stale(period, include_empty=False):
            return report
        progress("a table changed while it was read; reading again")
    assert report is not None
    return report


__all__ = ["build_report", "make_report"]
