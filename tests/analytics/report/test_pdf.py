"""report/pdf.py: pages with every section, the period and the charts as images."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from trellis.analytics.report import Report, write_report


def test_pdf_renders_to_pages_with_the_charts_as_images(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    write_report(report, "pdf", out)
    assert out.read_bytes().startswith(b"%PDF")
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm is not installed (apt-get install poppler-utils): the PDF was not rendered")
    subprocess.run([pdftoppm, "-r", "30", "-png", str(out), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= len(report.sections) + 2
    assert all(p.stat().st_size > 1000 for p in pages)
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    for section in report.sections:
        assert section.title in text
    assert "2026-01-05 to 2026-01-19" in text
    images = subprocess.run(["pdfimages", "-list", str(out)], capture_output=True, text=True, check=True).stdout
    assert len(images.strip().splitlines()) - 2 >= len(report.charts())
