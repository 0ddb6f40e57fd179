"""trellis/analytics/usage_sql.py: the utilization and cost jobs, computed a chunk of points at a time, give what the
Polars pipeline over every interval (``metrics.read_intervals``) gives."""

from __future__ import annotations

import dataclasses
from datetime import datetime as D
from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.analytics.conftest import insert
from tests.analytics.reference import assert_same_as_reference
from tests.analytics.scenarios import HOUR, as_delta, cumulative, point
from trellis.analytics import JOBS, run_job, run_jobs, usage_pass, usage_sql, utilization
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.run_sources import RunSources
from trellis.analytics.sources import Period, Sources
from trellis.testing.analytics_store import build_analytics_store

START = D(2026, 1, 5, 9, 55)


def edge_cases(con: duckdb.DuckDBPyConnection) -> None:
    """Counter resets, delta counters, a counter and a gauge for one container, a pod's own metrics beside
    its containers', gauges with gaps, and points just outside the period."""
    pod = {"k8s_container_name": None}
    insert(con, "otel_metrics_sum", cumulative("api", 1) + as_delta("worker", 11))
    insert(
        con,
        "otel_metrics_gauge",
        [point("container.cpu.usage", 2, D(2026, 1, 5, 10, m), 9.0, "api") for m in (1, 2, 7)]
        + [point("k8s.pod.cpu.usage", 3, D(2026, 1, 5, 10, m), 9.0, "api", **pod) for m in (1, 2)]
        + [point("k8s.pod.memory.working_set", 4, D(2026, 1, 5, 10, m), 5.0 + m, "api", **pod) for m in (1, 2, 30)]
        + [point("container.memory.working_set", 5, START + timedelta(minutes=m), 2.0 * m, "web") for m in range(70)]
        + [point("k8s.container.memory.request", 6, D(2026, 1, 5, 10, 3 * m), 100.0, "web") for m in range(20)]
        + [point("k8s.container.cpu.request", 7, D(2026, 1, 5, 10, 0), 1.5, "worker")],
    )


@pytest.mark.parametrize("chunk", [3, 50, 8_000_000])
def test_edge_cases_give_the_same_tables_whatever_the_chunks(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    edge_cases(con)
    monkeypatch.setattr(usage_pass, "CHUNK_POINTS", chunk)
    assert_same_as_reference(con, HOUR)


@pytest.mark.parametrize("chunk", [20_000, 8_000_000])
def test_an_organisation_gives_the_same_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    path = tmp_path / "org.duckdb"
    build_analytics_store(path, workloads=6, days=2, step_minutes=5, deployments=100)
    monkeypatch.setattr(usage_pass, "CHUNK_POINTS", chunk)
    with duckdb.connect(str(path), read_only=True) as con:
        assert_same_as_reference(con, Period(D(2026, 1, 5, 7, 30), D(2026, 1, 6, 19)))


def test_no_points_give_no_rows(con: duckdb.DuckDBPyConnection) -> None:
    assert utilization.run(Sources(con), HOUR, AnalyticsConfig()).is_empty()
    assert usage_sql.cost_lines(Sources(con), HOUR, 1.0, 1.0, 1.0).is_empty()


def _job_tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    return {t: con.execute(f"SELECT * FROM analytics_{t} ORDER BY ALL").fetchall() for t in ("utilization", "cost")}


def _temporary_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()]


def _count_passes(monkeypatch: pytest.MonkeyPatch) -> list[Period]:
    passes: list[Period] = []
    real = usage_pass.Pass.run

    def counted(self: usage_pass.Pass) -> bool:
        passes.append(self.period)
        return real(self)

    monkeypatch.setattr(usage_pass.Pass, "run", counted)
    return passes


@pytest.mark.parametrize("order", [["utilization", "cost"], ["cost", "utilization"]])
def test_a_run_shares_one_pass_and_gives_the_tables_each_job_gives_alone(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, order: list[str]
) -> None:
    edge_cases(con)
    monkeypatch.setattr(usage_pass, "CHUNK_POINTS", 7)
    passes = _count_passes(monkeypatch)
    for name in order:
        run_job(con, JOBS[name], HOUR, AnalyticsConfig())
    alone = _job_tables(con)
    assert len(passes) == 2
    passes.clear()
    run_jobs(con, [JOBS[name] for name in order], HOUR, AnalyticsConfig())
    assert _job_tables(con) == alone
    assert all(alone.values())
    # Cost needs no sketches; utilization does, so after cost it makes a pass of its own.
    assert passes == ([HOUR] if order[0] == "utilization" else [HOUR, HOUR])
    assert _temporary_tables(con) == []


def test_a_run_drops_the_pass_once_its_last_job_is_done(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge_cases(con)
    left: dict[str, list[str]] = {}
    real = JOBS["platform_health"]

    def after_cost(sources: Sources, period: Period, config: AnalyticsConfig) -> pl.DataFrame:
        left["platform_health"] = _temporary_tables(con)
        return real.run(sources, period, config)

    monkeypatch.setitem(JOBS, "platform_health", dataclasses.replace(real, run=after_cost))
    run_jobs(con, [JOBS[n] for n in ("utilization", "cost", "platform_health")], HOUR, AnalyticsConfig())
    assert left == {"platform_health": []}
    assert JOBS["utilization"].shares == JOBS["cost"].shares == (usage_sql.USAGE,)


def test_a_run_over_two_periods_makes_a_pass_for_each(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge_cases(con)
    passes = _count_passes(monkeypatch)
    later = Period(HOUR.start + timedelta(minutes=30), HOUR.end)
    with RunSources(con) as sources:
        first = [utilization.run(sources, p, AnalyticsConfig()) for p in (HOUR, later, HOUR)]
    assert passes == [HOUR, later]
    assert_frame_equal(first[0], first[2])
    assert_frame_equal(first[1], utilization.run(Sources(con), later, AnalyticsConfig()))
    assert not first[0].equals(first[1])
    assert _temporary_tables(con) == []
