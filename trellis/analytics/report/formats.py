"""Every output format of a report: one table of the suffixes that name it and the writer of each.

Each writer is imported when it writes: the PDF, the HTML and the images bring libraries (fpdf2, Jinja,
vl-convert) that a report in another format does not need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trellis.analytics.report.model import Report

Writer = Callable[[Report, Path], list[Path]]
"""Writes the report to ``out`` and returns the files written (the Markdown page and its images...)."""


@dataclass(frozen=True)
class Format:
    suffixes: tuple[str, ...]
    """The suffixes of ``--out`` that name the format when ``--format`` does not (none: it must be asked for)."""
    write: Writer


def _html(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report.html import write_html

    return write_html(report, out)


def _markdown(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report.markdown import write_markdown

    return write_markdown(report, out)


def _pdf(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report.pdf import write_pdf

    return write_pdf(report, out)


def _csv(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report.tables import write_files

    return write_files(report, out, "csv")


def _parquet(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report.tables import write_files

    return write_files(report, out, "parquet")


def _xlsx(report: Report, out: Path) -> list[Path]:
    from trellis.analytics.report.tables import write_xlsx

    return write_xlsx(report, out)


FORMATS: dict[str, Format] = {
    "html": Format((".html", ".htm"), _html),
    "md": Format((".md",), _markdown),
    "pdf": Format((".pdf",), _pdf),
    "csv": Format((), _csv),
    "parquet": Format((), _parquet),
    "xlsx": Format((".xlsx",), _xlsx),
}
"""Every format by name, in the order the help lists them."""
FORMAT_NAMES = tuple(FORMATS)


def format_for(out: Path, fmt: str | None) -> str:
    """The format asked for, else the one the output's suffix names (CSV and Parquet must be asked for)."""
    if fmt:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; the formats are {', '.join(FORMATS)}")
        return fmt
    suffix = out.suffix.lower()
    for name, found in FORMATS.items():
        if suffix in found.suffixes:
            return name
    raise ValueError(f"cannot tell the format from {out.name!r}; give --format ({', '.join(FORMATS)})")


def write_report(report: Report, fmt: str, out: Path) -> list[Path]:
    """Write the report; returns the files written (the Markdown page and its images, the CSV files...)."""
    return FORMATS[format_for(out, fmt)].write(report, out)


__all__ = ["FORMATS", "FORMAT_NAMES", "Format", "Writer", "format_for", "write_report"]
