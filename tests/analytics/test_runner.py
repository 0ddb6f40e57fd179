"""trellis/analytics/runner.py and trellis/analytics/registry.py:

Results land in analytics_<job>, and a rerun gives the same table.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from tests.analytics.conftest import insert
from tests.analytics.scenarios import SCENARIO, SCENARIO_INCIDENTS, TWO_WEEKS
from trellis.analytics import JOBS, UnknownJob, run_job, run_jobs, select_jobs
from trellis.analytics.job import AnalyticsConfig


def test_a_rerun_replaces_the_table_with_the_same_rows(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "deployments", SCENARIO)
    insert(con, "incidents", SCENARIO_INCIDENTS)
    first = run_job(con, JOBS["dora"], TWO_WEEKS, AnalyticsConfig())
    before = con.execute("SELECT * FROM analytics_dora ORDER BY ALL").fetchall()
    second = run_job(con, JOBS["dora"], TWO_WEEKS, AnalyticsConfig())
    assert first.rows == second.rows == len(before) > 0
    assert con.execute("SELECT * FROM analytics_dora ORDER BY ALL").fetchall() == before
    periods = con.execute("SELECT DISTINCT period_start, period_end FROM analytics_dora").fetchall()
    assert periods == [(datetime(2026, 1, 5), datetime(2026, 1, 19))]


def test_every_job_writes_its_documented_columns_even_with_no_data(con: duckdb.DuckDBPyConnection) -> None:
    reported = []
    results = run_jobs(con, list(JOBS.values()), TWO_WEEKS, AnalyticsConfig(), progress=reported.append)
    assert [r.job for r in results] == [r.job for r in reported] == list(JOBS)
    for job in JOBS.values():
        columns = [row[0] for row in con.execute(f"DESCRIBE {job.table}").fetchall()]
        schema = __import__(f"trellis.analytics.{job.name}", fromlist=["SCHEMA"]).SCHEMA
        assert columns == [*schema, "period_start", "period_end"], job.name
        assert con.execute(f"SELECT count(*) FROM {job.table}").fetchall() == [(0,)]


def test_jobs_are_selected_by_name_in_registry_order() -> None:
    assert list(JOBS) == ["dora", "adoption", "demand", "utilization", "cost", "platform_health"]
    assert [j.name for j in select_jobs(["cost", "dora"])] == ["dora", "cost"]
    assert [j.name for j in select_jobs(None)] == list(JOBS)
    with pytest.raises(UnknownJob, match="unknown job 'nope'; the jobs are dora, adoption"):
        select_jobs(["nope"])
    assert JOBS["platform_health"].table == "analytics_platform_health"
