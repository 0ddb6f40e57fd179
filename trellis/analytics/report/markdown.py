"""The report as Markdown for a wiki page: pipe tables, and the charts as PNG files in a folder beside it.

``report.md`` links its images as ``report_files/<chart>.png``; upload or commit the folder with the page.
"""

from __future__ import annotations

from pathlib import Path

from trellis.analytics.report.chart_rendering import to_png
from trellis.analytics.report.model import Report, ReportTable
from trellis.analytics.report.values import display_rows


def _cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table_md(table: ReportTable) -> list[str]:
    lines = [f"### {table.title}", ""]
    if table.description:
        lines += [table.description, ""]
    columns, rows = display_rows(table)
    if not rows:
        return [*lines, "_No rows._", ""]
    numeric = {c for c, dtype in zip(table.display.columns, table.display.dtypes, strict=True) if dtype.is_numeric()}
    lines.append("| " + " | ".join(_cell(c) for c in columns) + " |")
    lines.append("|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|")
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    lines.append("")
    if table.display_note:
        lines += [f"_{table.display_note} (table `{table.name}`)._", ""]
    return lines


def render_markdown(report: Report, images: str) -> str:
    """The page; ``images`` is the folder (relative to the page) holding the chart PNGs."""
    team = report.scope_label
    lines = [
        f"# {report.title}",
        "",
        f"**Period:** {report.period_label}  ",
        f"**Teams:** {team}  ",
        f"**Source:** {report.source}  ",
        f"**Generated:** {report.generated_at.isoformat(sep=' ')} UTC",
        "",
    ]
    if report.missing:
        lines += ["> **Missing data**", ">"] + [f"> - {m}" for m in report.missing] + [""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        lines += [f"- {s}" for s in section.summary]
        if section.summary:
            lines.append("")
        for chart in section.charts:
            lines += [f"![{chart.title}]({images}/{chart.name}.png)", ""]
        for table in section.tables:
            lines += _table_md(table)
    lines += ["## About the data", ""]
    for table in report.tables()[:3]:
        lines += _table_md(table)
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(report: Report, out: Path) -> list[Path]:
    folder = out.with_name(out.stem + "_files")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in report.charts():
        image = folder / f"{chart.name}.png"
        image.write_bytes(to_png(chart.spec))
        written.append(image)
    out.write_text(render_markdown(report, folder.name), encoding="utf-8")
    return [out, *written]


__all__ = ["render_markdown", "write_markdown"]
