"""report/markdown.py: a wiki page that links its chart images in a folder beside it."""

from __future__ import annotations

import re
from pathlib import Path

from trellis.analytics.report import Report, write_report


def test_markdown_links_its_chart_images_beside_it(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "wiki" / "usage.md"
    written = write_report(report, "md", out)
    text = out.read_text()
    links = re.findall(r"!\[[^]]*\]\((usage_files/[\w-]+\.png)\)", text)
    assert len(links) == len(report.charts()) and len(written) == len(links) + 1
    for link in links:
        assert (out.parent / link).read_bytes().startswith(b"\x89PNG")
    assert "| team | environment |" in text and "**Period:** 2026-01-05 to 2026-01-19" in text
