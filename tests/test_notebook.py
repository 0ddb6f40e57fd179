"""notebooks/platform-usage.ipynb runs from top to bottom against a generated store, as a data person would."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from trellis.testing.analytics_store import make_small_analytics_store

NOTEBOOK = ROOT / "notebooks" / "platform-usage.ipynb"

pytestmark = pytest.mark.slow


def _outputs(cell: Any) -> tuple[str, set[str]]:
    """The text a cell showed, and the MIME types of its outputs."""
    text, kinds = [], set()
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text.append(output.get("text", ""))
            kinds.add("stream")
        for kind, value in output.get("data", {}).items():
            kinds.add(kind)
            if isinstance(value, str):
                text.append(value)
    return "\n".join(text), kinds


def test_the_notebook_runs_against_a_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    db = make_small_analytics_store(tmp_path / "snapshot.duckdb")
    out = tmp_path / "out"
    for name in [n for n in os.environ if n.startswith("TRELLIS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRELLIS_NOTEBOOK_DB", str(db))
    monkeypatch.setenv("TRELLIS_NOTEBOOK_OUT", str(out))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()

    cells = {cell.metadata["tags"][0]: cell for cell in notebook.cells if cell.cell_type == "code"}
    assert list(cells) == ["setup", "tables", "sql", "analytics", "polars", "client", "chart", "export"]
    for tag, cell in cells.items():
        assert not [o for o in cell.outputs if o.output_type == "error"], tag
        assert cell.outputs, f"cell {tag} showed nothing"
    shown = {tag: _outputs(cell) for tag, cell in cells.items()}
    assert f"reading {db}" in shown["setup"][0]
    assert "analytics_dora" in shown["tables"][0] and "deployments" in shown["tables"][0]
    assert "team-0" in shown["sql"][0] and "failed" in shown["sql"][0]
    assert "deployment_frequency_band" in shown["analytics"][0] and "elite" in shown["analytics"][0]
    assert "cores_to_free" in shown["polars"][0]
    assert "median_lead_time_hours" in shown["client"][0]
    assert "image/svg+xml" in shown["chart"][1] and "Deployments per week" in shown["chart"][0]
    assert (out / "weekly_deployments.parquet").exists()
