"""report/build.py: one section per job, each job's own, the about part, and what is missing said."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.analytics.report.conftest import PERIOD
from trellis.analytics import JOBS, AnalyticsConfig, Job, Period
from trellis.analytics.report import SECTIONS, FileReader, Report, build_report, make_report, write_report
from trellis.catalog.tables import migrate_catalog
from trellis.collector.schema import migrate
from trellis.collector.sql_guard import open_read_only


def analytics_table(store: Path, query: str) -> pl.DataFrame:
    with open_read_only(store) as con:  # as the report fixture's reader opened it
        return pl.from_arrow(con.sql(query).to_arrow_table())  # type: ignore[return-value]


def empty_store(path: Path) -> Path:
    """The collector's and the catalog's tables, no rows and no analytics tables."""
    with duckdb.connect(str(path)) as con:
        migrate(con)
        migrate_catalog(con)
    return path


def test_the_report_covers_every_section_with_its_period_teams_and_sources(report: Report) -> None:
    assert [s.key for s in report.sections] == list(JOBS)
    assert report.coverage["status"].to_list() == ["ok"] * len(JOBS)
    assert report.teams == [f"team-0{n}" for n in range(6)]
    about = dict(report.about().iter_rows())
    assert about["period_start"] == "2026-01-05T00:00:00" and about["period_end"] == "2026-01-19T00:00:00"
    assert about["source"].startswith("file ") and "team-03" in about["teams"]
    inputs = dict(zip(report.inputs["data"], report.inputs["rows"], strict=True))
    assert inputs["deployments"] > 0 and inputs["metric points (gauges)"] == 12 * 3 * 288 * 14
    for section in report.sections:
        assert section.tables and all(t.frame.height for t in section.tables if t.name != "health_dead"), section.key
        assert section.summary, section.key
        assert section.charts, section.key
    assert not [m for m in report.missing if "empty" in m]


def test_the_tables_match_the_analytics_tables(report: Report, store: Path) -> None:
    tables = {t.name: t.frame for t in report.tables()}
    dora = analytics_table(
        store,
        "SELECT service_namespace AS team, environment, deployments, change_failure_rate, lead_time_band "
        "FROM analytics_dora WHERE level = 'team' AND bucket = 'period' ORDER BY team, environment",
    )
    assert_frame_equal(tables["dora_teams"].select(dora.columns), dora)
    cost = analytics_table(
        store,
        "SELECT team, total_cost, idle_cost FROM analytics_cost WHERE level = 'team' AND bucket = 'period' "
        "ORDER BY team",
    )
    assert_frame_equal(tables["cost_teams"].select(cost.columns), cost)
    utilization = analytics_table(store, "SELECT count(*) AS n FROM analytics_utilization")
    assert tables["utilization_workloads"].height == utilization["n"][0] == 12 * 2


def test_a_report_for_one_team_keeps_to_it_and_says_what_is_platform_wide(store: Path) -> None:
    reader = FileReader(store, AnalyticsConfig())
    try:
        one = make_report(reader, PERIOD, "team-02", progress=lambda _: None)
    finally:
        reader.close()
    assert one.teams == ["team-02"]
    for table in one.tables():
        if "team" in table.frame.columns and table.frame.height:
            assert set(table.frame["team"].to_list()) == {"team-02"}, table.name
    described = {t.name: t.description for t in one.tables()}
    assert described["cost_definitions"] == "The team's own resources of each definition."
    assert "platform-wide" in described["health_legacy"] and "team" in described["health_dead"]


def test_missing_data_is_said_and_the_file_is_not_changed(tmp_path: Path) -> None:
    path = empty_store(tmp_path / "empty.duckdb")
    reader = FileReader(path, AnalyticsConfig())
    try:
        computed = make_report(reader, PERIOD, None, progress=lambda _: None)
    finally:
        reader.close()
    text = " ".join(computed.missing)
    assert "No deployments in the period" in text
    assert "No metric points in the period" in text
    assert "Jobs with empty results for the period: dora, adoption, demand, utilization, cost, platform_health" in text
    assert all(s.missing for s in computed.sections)
    with duckdb.connect(str(path), read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert not [n for n in names if n.startswith("analytics_")], "a report wrote to the file"
    out = tmp_path / "empty.html"
    write_report(computed, "html", out)
    assert "No deployments in the period" in out.read_text()


def test_every_job_brings_its_own_section() -> None:
    """A job added to the registry without a section would only be reported as 'no section'."""
    assert list(SECTIONS) == list(JOBS)
    assert all(section.job == name for name, section in SECTIONS.items())


def test_a_job_without_a_section_is_reported_as_such_and_the_others_keep_theirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = Job("extra", "a job that brought no report section", lambda sources, period, config: pl.DataFrame())
    monkeypatch.setitem(JOBS, "extra", extra)
    reader = FileReader(empty_store(tmp_path / "empty.duckdb"), AnalyticsConfig())
    try:
        built = build_report(reader, PERIOD)
    finally:
        reader.close()
    assert [s.key for s in built.sections] == [*SECTIONS, "extra"]
    assert built.sections[0].missing == ["The dora job gave no answer: analytics_dora is not shown."]
    note = "The extra job has no report section: analytics_extra is not shown."
    assert built.sections[-1].missing == [note] and note in built.missing
    assert built.coverage.filter(pl.col("job") == "extra")["status"].to_list() == ["missing"]


def test_a_team_name_is_bound_as_a_value_never_pasted_into_the_sql(store: Path) -> None:
    """A team named with quotes (or an injection attempt) selects nothing and breaks nothing."""
    reader = FileReader(store, AnalyticsConfig())
    try:
        built = make_report(reader, PERIOD, "team-01' OR '1'='1", progress=lambda _: None)
    finally:
        reader.close()
    assert built.teams == ["team-01' OR '1'='1"]
    assert all(
        table.frame.is_empty()
        for section in built.sections
        for table in section.tables
        if "team" in table.frame.columns
    )


def test_a_report_for_a_team_and_an_environment_counts_what_sql_over_the_raw_rows_counts(store: Path) -> None:
    """The report answers the team, environment and period asked, whatever the stored tables hold."""
    week = Period(PERIOD.start, PERIOD.start + timedelta(days=7))
    reader = FileReader(store, AnalyticsConfig())
    try:
        built = make_report(reader, week, "team-02", progress=lambda _: None, environments=("production-eu",))
    finally:
        reader.close()
    dora = next(t.frame for t in built.tables() if t.name == "dora_teams")
    raw = analytics_table(
        store,
        "SELECT count(*) AS n FROM deployments WHERE service_namespace = 'team-02' AND environment = 'production-eu' "
        f"AND finished_at >= TIMESTAMP '{week.start}' AND finished_at < TIMESTAMP '{week.end}'",
    )
    assert raw["n"][0] > 0
    assert dora["environment"].to_list() == ["production-eu"] and dora["deployments"].to_list() == [raw["n"][0]]
    assert dict(built.about().iter_rows())["environment_filter"] == "production-eu"
    assert built.coverage["computed_to"].to_list() == [week.end] * len(JOBS)
