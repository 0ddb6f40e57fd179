"""trellis/analytics/cli.py:

``trellis analyze`` through a running collector, and on the database file when none runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from tests.analytics.conftest import insert
from tests.analytics.scenarios import SCENARIO, SCENARIO_INCIDENTS
from tests.conftest import ROOT
from trellis.collector.schema import migrate
from trellis.testing import RunningCollector, free_port

pytestmark = pytest.mark.slow


def trellis(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    return subprocess.run(
        [sys.executable, "-m", "trellis", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def test_analyze_runs_on_the_file_when_no_collector_runs(tmp_path: Path) -> None:
    db = tmp_path / "trellis.duckdb"
    con = duckdb.connect(str(db))
    migrate(con)
    insert(con, "deployments", SCENARIO)
    insert(con, "incidents", SCENARIO_INCIDENTS)
    con.close()
    nobody = f"http://127.0.0.1:{free_port()}"
    done = trellis(
        "analyze", "--db", str(db), "--from", "2026-01-05", "--to", "2026-01-19", "--job", "dora", "--api", nobody
    )
    assert done.returncode == 0, done.stderr
    assert "dora" in done.stdout and "analytics_dora" in done.stdout
    assert "period 2026-01-05T00:00:00 to 2026-01-19T00:00:00" in done.stdout
    with duckdb.connect(str(db), read_only=True) as check:
        rows = check.execute(
            "SELECT deployments FROM analytics_dora WHERE level = 'workload' AND bucket = 'period' "
            "AND environment = 'production'"
        ).fetchall()
    assert rows == [(6,)]

    unknown = trellis("analyze", "--db", str(db), "--job", "nope")
    assert unknown.returncode != 0 and "unknown job 'nope'" in unknown.stderr
    missing = trellis("analyze", "--db", str(tmp_path / "none.duckdb"), "--job", "dora")
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_analyze_goes_through_a_running_collector(make_collector: Callable[..., RunningCollector]) -> None:
    collector = make_collector("--analytics-interval-seconds", "0")
    done = trellis("analyze", "--api", collector.api, "--from", "2026-01-05", "--to", "2026-01-19",
                   "--job", "dora", "--job", "demand")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"collector at {collector.api}" in done.stdout
    assert "dora" in done.stdout and "demand" in done.stdout
    held = trellis("analyze", "--db", str(collector.db), "--job", "dora")
    assert held.returncode == 1 and "cannot open" in held.stderr


def test_jobs_that_share_work_go_to_the_collector_in_one_request_in_order() -> None:
    from trellis.analytics.cli import request_groups
    from trellis.analytics.registry import select_jobs

    groups = request_groups(select_jobs(None))
    names = [[job.name for job in group] for group in groups]

    assert ["utilization", "cost"] in names
    assert [name for group in names for name in group] == [job.name for job in select_jobs(None)]
    assert all(len(group) == 1 for group in names if group != ["utilization", "cost"])
