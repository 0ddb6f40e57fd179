"""The seam between a job and the report: each job brings its own section, found by the job's name.

``sections.SECTIONS`` holds the built-in ones, one module per job (``sections/dora.py``...); a job whose
name is not there gets a section that says so, and the rest of the report is built as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from trellis.analytics.report.model import Section
from trellis.analytics.report.query import Query
from trellis.analytics.sources import Period

Fill = Callable[[Section, Query, Period, str | None], None]
"""Adds a section's tables, summary, charts and missing-data notes; the team is None for every team."""


@dataclass(frozen=True)
class JobSection:
    """A job's section of the report: the job it reports on, its title, and how it is filled."""

    job: str
    """The job's name in ``trellis.analytics.registry.JOBS``: the section reads ``analytics_<job>``."""
    title: str
    fill: Fill

    def build(self, q: Query, period: Period, team: str | None) -> Section:
        section = Section(self.job, self.title, self.job)
        self.fill(section, q, period, team)
        return section


__all__ = ["Fill", "JobSection"]
