"""report/command.py: ``trellis report`` on a database file, and through a running collector."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.conftest import ROOT
from trellis.analytics import JOBS
from trellis.testing import RunningCollector, free_port
from trellis.testing.analytics_store import make_small_analytics_store


def trellis(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    return subprocess.run(
        [sys.executable, "-m", "trellis", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=240
    )


@pytest.mark.slow
def test_report_on_a_file_when_no_collector_runs(store: Path, tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "team.xlsx"
    done = trellis("report", "--db", str(store), "--from", "2026-01-05", "--to", "2026-01-19", "--out", str(out),
                   "--team", "team-01", "--api", nobody)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"written to {out}" in done.stdout and out.exists()
    bad = trellis("report", "--db", str(store), "--out", str(tmp_path / "x.txt"))
    assert bad.returncode != 0 and "give --format" in bad.stderr


@pytest.mark.slow
def test_report_through_a_running_collector_asks_for_answers_and_changes_nothing(
    tmp_path: Path, make_collector: Callable[..., RunningCollector]
) -> None:
    db = make_small_analytics_store(tmp_path / "served.duckdb", analyze=False)
    collector = make_collector("--analytics-interval-seconds", "0", db=db)
    out = tmp_path / "tables"
    done = trellis("report", "--api", collector.api, "--from", "2026-01-05", "--to", "2026-01-19",
                   "--env", "staging", "--format", "csv", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"computing dora for the period (collector at {collector.api})" in done.stderr
    about = dict(pl.read_csv(out / "about.csv").iter_rows())
    assert about["source"] == f"collector at {collector.api}" and about["environment_filter"] == "staging"
    coverage = pl.read_csv(out / "coverage.csv")
    assert coverage["status"].to_list() == ["ok"] * len(JOBS)
    dora = pl.read_csv(out / "dora_teams.csv")
    assert dora.height == 6 and set(dora["environment"]) == {"staging"}
    stored = httpx.post(f"{collector.api}/api/v1/query", json={"sql": "SELECT table_name FROM duckdb_tables()"})
    assert not [row for row in stored.json()["rows"] if row[0].startswith("analytics_")], "a report wrote tables"
