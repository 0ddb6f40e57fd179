"""What a report holds: the about part, the sections, their tables and charts, and where it reads them.

A report has an *about* part (period, teams, where the data came from, what each job produced and what data
was missing) and one section per job. Each section holds tables (``ReportTable``: every row, plus the rows a
document shows) and charts (``Chart``: Vega-Lite specs with their data inline). The writers (``html``,
``markdown``, ``pdf``, ``tables``) only lay out what is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import polars as pl

from trellis.analytics.sources import Period

DISPLAY_ROWS = 25
"""Rows a document (HTML, Markdown, PDF) shows of a long table; the data formats carry every row."""


class Reader(Protocol):
    """Where the report reads: the jobs' answers (``sql``, over ``analytics_<job>``) and the store's own
    tables (``store_sql``), one read-only statement at a time, answered as a DataFrame."""

    source: str
    """Said in the report: 'collector at URL' or 'file PATH'."""
    row_limit: int

    def sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame: ...

    def store_sql(self, query: str, params: dict[str, Any] | None = None) -> pl.DataFrame: ...

    def tables(self) -> set[str]: ...


@dataclass
class ReportTable:
    """One table of the report: ``frame`` has every row (the data formats write it), ``shown`` what a
    document shows (sorted for reading, at most DISPLAY_ROWS rows)."""

    name: str
    title: str
    frame: pl.DataFrame
    description: str = ""
    shown: pl.DataFrame | None = None
    truncated: bool = False

    @property
    def display(self) -> pl.DataFrame:
        return (self.shown if self.shown is not None else self.frame).head(DISPLAY_ROWS)

    @property
    def display_note(self) -> str:
        shown = self.display.height
        notes = []
        if self.frame.height > shown:
            notes.append(f"showing {shown} of {self.frame.height} rows; the CSV, Parquet and XLSX formats carry all")
        if self.truncated:
            notes.append("the query reached the row limit, so rows are missing")
        return "; ".join(notes)


@dataclass
class Chart:
    """A Vega-Lite spec with its data inline; ``name`` becomes a file name in the Markdown format."""

    name: str
    title: str
    spec: dict[str, Any]


@dataclass
class Section:
    key: str
    title: str
    job: str
    summary: list[str] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    period: Period
    team: str | None
    generated_at: datetime
    source: str
    teams: list[str]
    coverage: pl.DataFrame
    """Per job: its table, the rows the report read, the period they were computed for."""
    inputs: pl.DataFrame
    """What the store holds for the period: deployments, incidents, metric points, catalog resolutions."""
    missing: list[str]
    sections: list[Section]
    environments: list[str] = field(default_factory=list)
    """The environments the report keeps to; all when empty."""

    def about(self) -> pl.DataFrame:
        """The report's metadata as key/value rows (the first sheet or file of the data formats)."""
        rows = [
            ("title", self.title),
            ("period_start", self.period.start.isoformat()),
            ("period_end", self.period.end.isoformat()),
            ("period_note", "half-open [start, end), UTC"),
            ("team_filter", self.team or "(all teams)"),
            ("environment_filter", ", ".join(self.environments) or "(all environments)"),
            ("teams", ", ".join(self.teams) or "(none)"),
            ("source", self.source),
            ("generated_at", self.generated_at.isoformat(timespec="seconds")),
            *(("missing", note) for note in self.missing),
        ]
        return pl.DataFrame({"key": [r[0] for r in rows], "value": [r[1] for r in rows]})

    def tables(self) -> list[ReportTable]:
        """Every table, the about and coverage tables first."""
        head = [
            ReportTable("about", "About this report", self.about()),
            ReportTable("coverage", "Analytics answers read", self.coverage),
            ReportTable("inputs", "Data in the store for the period", self.inputs),
        ]
        return head + [t for s in self.sections for t in s.tables]

    def charts(self) -> list[Chart]:
        return [c for s in self.sections for c in s.charts]

    @property
    def scope_label(self) -> str:
        """Whom the report covers: a team or every team, and its environments."""
        who = f"team {self.team}" if self.team else f"{len(self.teams)} teams"
        return who + (f" in {', '.join(self.environments)}" if self.environments else "")

    @property
    def period_label(self) -> str:
        return f"{moment(self.period.start)} to {moment(self.period.end)} (end not included, UTC)"


def moment(value: datetime) -> str:
    """A day alone when the time is midnight, else the ISO timestamp."""
    return value.strftime("%Y-%m-%d") if value == datetime(value.year, value.month, value.day) else value.isoformat()


__all__ = ["DISPLAY_ROWS", "Chart", "Reader", "Report", "ReportTable", "Section", "moment"]
