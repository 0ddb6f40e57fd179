"""The report as PDF (A4 landscape): the same content as the HTML, the charts as PNG images.

Built with fpdf2 (pure Python) and the built-in Helvetica, which covers Latin-1: other characters print as
'?'. Charts are rendered offline by vl-convert, as in the Markdown format.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from trellis.analytics.report.chart_rendering import to_png
from trellis.analytics.report.model import Report, ReportTable
from trellis.analytics.report.values import display_rows

_REPLACE = {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2026": "..."}


def latin1(text: str) -> str:
    for a, b in _REPLACE.items():
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def __init__(self, report: Report) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.report = report
        self.set_auto_page_break(auto=True, margin=14)
        self.set_margins(12, 12, 12)
        self.set_title(latin1(report.title))
        self.set_creator("Trellis analytics report")

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font("Helvetica", size=7)
        self.set_text_color(110)
        label = f"{self.report.title} - {self.report.period_label} - page {self.page_no()}/{{nb}}"
        self.cell(0, 5, latin1(label), align="C")
        self.set_text_color(0)

    def heading(self, text: str, size: float) -> None:
        if self.will_page_break(size * 1.5):
            self.add_page()
        self.set_font("Helvetica", "B", size)
        self.multi_cell(0, size * 0.55, latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1.5)

    def paragraph(self, text: str, size: float = 9, style: str = "") -> None:
        self.set_font("Helvetica", style, size)
        self.multi_cell(0, size * 0.5, latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(0.8)

    def bullets(self, items: list[str], size: float = 9) -> None:
        for item in items:
            self.paragraph(f"- {item}", size)

    def chart(self, spec: dict[str, Any]) -> None:
        png = to_png(spec)
        from PIL import Image

        with Image.open(io.BytesIO(png)) as image:
            width_px, height_px = image.size
        width = min(self.epw, width_px * 0.13)
        height = width * height_px / width_px
        if self.will_page_break(height):
            self.add_page()
        self.image(io.BytesIO(png), w=width, h=height)
        self.ln(2)

    def report_table(self, table: ReportTable) -> None:
        self.heading(table.title, 10)
        if table.description:
            self.paragraph(table.description, 8)
        columns, rows = display_rows(table)
        if not rows:
            self.paragraph("No rows.", 8, "I")
            return
        size = 7 if len(columns) <= 12 else 5.5
        self.set_font("Helvetica", size=size)
        numeric = {c for c, d in zip(table.display.columns, table.display.dtypes, strict=True) if d.is_numeric()}
        align = tuple("RIGHT" if c in numeric else "LEFT" for c in columns)
        with self.table(
            text_align=align,
            line_height=size * 0.5,
            headings_style=FontFace(emphasis="BOLD", fill_color=(240, 242, 245)),
            padding=0.6,
        ) as grid:
            grid.row([latin1(c.replace("_", " ")) for c in columns])
            for row in rows:
                grid.row([latin1(v) for v in row])
        if table.display_note:
            self.paragraph(f"{table.display_note} (table {table.name}).", 7, "I")
        self.ln(2)


def render_pdf(report: Report) -> bytes:
    doc = _Document(report)
    doc.add_page()
    doc.heading(report.title, 18)
    team = report.scope_label
    doc.paragraph(f"Period: {report.period_label}. Covers {team}.", 10)
    doc.paragraph(f"Source: {report.source}. Generated {report.generated_at.isoformat(sep=' ')} UTC.", 10)
    if report.missing:
        doc.heading("Missing data", 12)
        doc.bullets(report.missing)
    for section in report.sections:
        doc.add_page()
        doc.heading(section.title, 15)
        doc.bullets(section.summary)
        doc.bullets(section.missing)
        for chart in section.charts:
            doc.chart(chart.spec)
        for table in section.tables:
            doc.report_table(table)
    doc.add_page()
    doc.heading("About the data", 15)
    for table in report.tables()[:3]:
        doc.report_table(table)
    return bytes(doc.output())


def write_pdf(report: Report, out: Path) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(render_pdf(report))
    return [out]


__all__ = ["latin1", "render_pdf", "write_pdf"]
