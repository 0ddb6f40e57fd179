"""Every output format of a report and the writer of each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from trellis.analytics.report import Report

FORMATS = ("html", "md", "pdf", "csv", "parquet", "xlsx")
_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".pdf": "pdf", ".xlsx": "xlsx"}


def format_for(out: Path, fmt: str | None) -> str:
    """The format asked for, else the one the output's suffix names (CSV and Parquet must be asked for)."""
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; the formats are {', '.join(FORMATS)}")
        return fmt
    if out.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[out.suffix.lower()]
    raise ValueError(f"cannot tell the format from {out.name!r}; give --format ({', '.join(FORMATS)})")


def write_report(report: Report, fmt: str, out: Path) -> list[Path]:
    """Write the report; returns the files written (the Markdown page and its images, the CSV files...)."""
    writers: dict[str, Callable[[], list[Path]]] = {
        "html": lambda: _html(report, out),
        "md": lambda: _markdown(report, out),
        "pdf": lambda: _pdf(report, out),
        "csv": lambda: _files(report, out, "csv"),
        "parquet": lambda: _files(report, out, "parquet"),
        "xlsx": lambda: _xlsx(report, out),
    }
    return writers[format_for(out, fmt)]()


def _html(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report_html import write_html

    return write_html(report, out)


def _markdown(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report_markdown import write_markdown

    return write_markdown(report, out)


def _pdf(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report_pdf import write_pdf

    return write_pdf(report, out)


def _files(report: Report, out: Path, fmt: str) -> list[Path]:
    from trellis.analytics.report_tables import write_files

    return write_files(report, out, fmt)


def _xlsx(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report_tables import write_xlsx

    return write_xlsx(report, out)


__all__ = ["FORMATS", "format_for", "write_report"]
