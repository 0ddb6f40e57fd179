"""How a report is built from the jobs' answers: the about part, then one section per job.

A report is built by running read-only SQL over every job's answer for the report's period, team and
environments (and a few counts over the store's own tables) through a ``Reader``: a running collector or a
database file (``readers``). The
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
from trellis.analytics.slices import Slice
from trellis.analytics.sources import Period


def build_report(
    reader: Reader,
    period: Period,
    team: str | None = None,
    title: str | None = None,
    environments: tuple[str, ...] = (),
) -> Report:
    """Read the answers (the reader's ``prepare`` asked for them) and assemble the report."""
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
        environments=list(environments),
    )


def _section(q: Query, name: str, job: Job, period: Period, team: str | None) -> Section:
    """The job's own section; one that only says what is missing when the job has none or never ran."""
    found = SECTIONS.get(name)
    if found is None:
        return Section(name, name, name, missing=[f"The {name} job has no report section: {job.table} is not shown."])
    if job.table not in q.available:
        return Section(name, name, name, missing=[f"The {name} job gave no answer: {job.table} is not shown."])
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
    if team:
        without = [s.title for s in sections if s.tables and all(t.frame.is_empty() for t in s.tables)]
        if without:
            missing.append(f"Team {team} has no rows in: {', '.join(without)}.")
    if q.truncated:
        missing.append(f"Tables cut at the query row limit ({q.reader.row_limit:,}): {', '.join(q.truncated)}.")
    return missing


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_report(
    reader: Any,
    period: Period,
    team: str | None,
    progress: Callable[[str], None] = _say,
    environments: tuple[str, ...] = (),
) -> Report:
    """Ask every job for its answer for the period, team and environments, then build the report."""
    reader.prepare(period, Slice((team,) if team else (), environments), progress)
    progress(f"reading the answers ({reader.source})")
    return build_report(reader, period, team, environments=environments)


__all__ = ["build_report", "make_report"]
