"""report/command.py: ``trellis report`` on a database file, and through a running collector."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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
def test_report_through_a_running_collector_analyzes_the_period_first(
    tmp_path: Path, make_collector: Callable[..., RunningCollector]
) -> None:
    db = make_small_analytics_store(tmp_path / "served.duckdb", analyze=False)
    collector = make_collector("--analytics-interval-seconds", "0", db=db)
    out = tmp_path / "tables"
    done = trellis("report", "--api", collector.api, "--from", "2026-01-05", "--to", "2026-01-19",
                   "--format", "csv", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "analyzing dora, adoption, demand, utilization, cost, platform_health for the period (collector)" in (
        done.stderr
    )
    about = dict(pl.read_csv(out / "about.csv").iter_rows())
    assert about["source"] == f"collector at {collector.api}"
    coverage = pl.read_csv(out / "coverage.csv")
    assert coverage["status"].to_list() == ["ok"] * len(JOBS)
    assert pl.read_csv(out / "dora_teams.csv").height == 12
    again = trellis("report", "--api", collector.api, "--from", "2026-01-05", "--to", "2026-01-19",
                    "--out", str(tmp_path / "again.md"))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "analyzing" not in again.stderr, "the tables already held the period"
