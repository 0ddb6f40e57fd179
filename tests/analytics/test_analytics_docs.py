"""docs/analytics.md documents every job and every column of its table; a test keeps them in step."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from tests.conftest import ROOT
from trellis.analytics import JOBS

DOCS = ROOT / "docs"


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## +(\S+)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_column_of_every_job_is_documented() -> None:
    text = (DOCS / "analytics.md").read_text()
    sections = _sections(text)
    for name, job in JOBS.items():
        assert f"`{name}`" in text, f"job {name} is not listed in docs/analytics.md"
        assert job.table in sections, f"docs/analytics.md has no section for {job.table}"
        schema = importlib.import_module(f"trellis.analytics.{name}").SCHEMA
        for column in [*schema, "period_start", "period_end"]:
            assert f"`{column}`" in sections[job.table], f"{job.table}.{column} is not documented"


def test_the_docs_are_linked_from_the_configuration_page() -> None:
    assert "analytics.md" in (Path(DOCS) / "configuration.md").read_text()
