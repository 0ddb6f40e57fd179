"""analytics/report*.py: ``trellis report`` in every format, opened the way a person would open it.

The store is a small version of the benchmark's organisation (benchmarks/analytics.py): 12 workloads over
two weeks with container metrics, deployments, incidents and a catalog, analyzed once per session.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.conftest import ROOT, RunningCollector, free_port
from trellis.analytics import JOBS, AnalyticsConfig, Period, run_jobs, select_jobs
from trellis.analytics.report import Report, build_report, format_value
from trellis.analytics.report_cli import make_report
from trellis.analytics.report_formats import format_for, write_report
from trellis.analytics.report_source import FileReader
from trellis.analytics.report_tables import sheet_name
from trellis.catalog.tables import migrate_catalog
from trellis.collector.schema import migrate

START, END = datetime(2026, 1, 5), datetime(2026, 1, 19)
PERIOD = Period(START, END)


def _benchmark() -> Any:
    spec = importlib.util.spec_from_file_location("trellis_benchmark_analytics", ROOT / "benchmarks" / "analytics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_store(path: Path, analyze: bool = True) -> Path:
    """A small organisation (see the module's doc); with ``analyze``, every job has run for PERIOD."""
    _benchmark().build_store(path, workloads=12, days=14, step_minutes=5, deployments=3000)
    if analyze:
        with duckdb.connect(str(path)) as con:
            run_jobs(con, select_jobs(None), PERIOD, AnalyticsConfig())
    return path


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("report") / "store.duckdb")


@pytest.fixture(scope="session")
def report(store: Path) -> Iterator[Report]:
    reader = FileReader(store, AnalyticsConfig())
    try:
        yield make_report(reader, PERIOD, None, progress=lambda _: None)
    finally:
        reader.close()


def analytics_table(store: Path, query: str) -> pl.DataFrame:
    with duckdb.connect(str(store), read_only=True) as con:
        return pl.from_arrow(con.sql(query).to_arrow_table())  # type: ignore[return-value]


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
        one = build_report(reader, PERIOD, "team-02")
    finally:
        reader.close()
    assert one.teams == ["team-02"]
    for table in one.tables():
        if "team" in table.frame.columns and table.frame.height:
            assert set(table.frame["team"].to_list()) == {"team-02"}, table.name
    assert any("Platform-wide" in t.description for t in one.tables())


def test_missing_data_is_said_and_the_file_is_not_changed(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    with duckdb.connect(str(path)) as con:
        migrate(con)
        migrate_catalog(con)
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


def test_values_read_as_a_person_reads_them() -> None:
    assert format_value("change_failure_rate", 0.0525) == "5.2%"
    assert format_value("total_cost", 12345.678) == "12,346"
    assert format_value("deployments", 1200) == "1,200"
    assert format_value("lead_time_median_hours", 3.14159) == "3.14"
    assert format_value("week_start", datetime(2026, 1, 5)) == "2026-01-05"
    assert format_value("x", None) == "-" and format_value("production", True) == "yes"
    assert sheet_name("a" * 40, set()) == "a" * 31
    assert sheet_name("x/y", {"x_y"}) == "x_y~2"
    assert format_for(Path("r.pdf"), None) == "pdf" and format_for(Path("out"), "csv") == "csv"
    with pytest.raises(ValueError, match="give --format"):
        format_for(Path("out"), None)


# ---------------------------------------------------------------------------
# Each format, written and opened
# ---------------------------------------------------------------------------


def test_html_is_one_self_contained_file_that_a_browser_renders_without_errors(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert write_report(report, "html", out) == [out]
    html = out.read_text()
    assert all("src=" not in tag for tag in re.findall(r"<script[^>]*>", html)), "a script is loaded"
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
    assert not re.search(r"<(link|img|iframe)[^>]+(src|href)=", markup), "the page loads something"
    assert "window.vegaEmbed" in html and "Delivery performance (DORA)" in html
    charts = re.findall(r'<div class="chart" id="chart-([\w-]+)"', html)
    assert len(charts) == len(report.charts()) >= 8
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the page was not opened in a browser")
    # Record what the page logs as an error, then let a real headless Chromium run it with no network.
    probe = (
        "<script>(()=>{window.__errors=[];const e=console.error.bind(console);"
        "console.error=(...a)=>{window.__errors.push(a.join(' '));e(...a)};"
        "console.warn=(...a)=>{window.__errors.push('warn: '+a.join(' '))};"
        "window.addEventListener('error',(v)=>window.__errors.push(String(v.message)));"
        "window.addEventListener('unhandledrejection',(v)=>window.__errors.push(String(v.reason)));"
        "window.addEventListener('load',()=>setTimeout(()=>{const p=document.createElement('pre');"
        "p.id='console-errors';p.textContent=JSON.stringify(window.__errors);document.body.append(p)},1500));"
        "})()</script>"
    )
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("<head>", "<head>" + probe, 1))
    done = subprocess.run(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--virtual-time-budget=20000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    dom = done.stdout
    found = re.search(r'<pre id="console-errors">(.*?)</pre>', dom, flags=re.S)
    assert found, f"the page did not finish loading:\n{done.stderr[-2000:]}"
    assert json.loads(found.group(1).replace("&quot;", '"')) == []
    rendered = re.findall(r'id="chart-([\w-]+)"[^>]*>.*?<svg[^>]*class="marks"', dom, flags=re.S)
    assert sorted(set(rendered)) == sorted(charts)


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


def test_markdown_links_its_chart_images_beside_it(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "wiki" / "usage.md"
    written = write_report(report, "md", out)
    text = out.read_text()
    links = re.findall(r"!\[[^]]*\]\((usage_files/[\w-]+\.png)\)", text)
    assert len(links) == len(report.charts()) and len(written) == len(links) + 1
    for link in links:
        assert (out.parent / link).read_bytes().startswith(b"\x89PNG")
    assert "| team | environment |" in text and "**Period:** 2026-01-05 to 2026-01-19" in text


def test_xlsx_has_one_sheet_per_table_that_reads_back(report: Report, tmp_path: Path) -> None:
    import openpyxl

    out = tmp_path / "report.xlsx"
    write_report(report, "xlsx", out)
    book = openpyxl.load_workbook(out, read_only=True)
    tables = report.tables()
    assert book.sheetnames == [t.name for t in tables]
    for table in tables:
        rows = list(book[table.name].iter_rows(values_only=True))
        assert list(rows[0]) == table.frame.columns, table.name
        assert len(rows) - 1 == table.frame.height, table.name
    dora = pl.read_excel(out, sheet_name="dora_teams", engine="openpyxl")
    assert_frame_equal(
        dora.select("team", "deployments"), tables[3].frame.select("team", "deployments"), check_dtypes=False
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_carry_every_table_in_a_folder_or_a_zip(report: Report, tmp_path: Path, fmt: str) -> None:
    folder, archive = tmp_path / fmt, tmp_path / f"{fmt}.zip"
    write_report(report, fmt, folder)
    write_report(report, fmt, archive)
    names = [f"{t.name}.{fmt}" for t in report.tables()]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == names
    for table in report.tables():
        path = folder / f"{table.name}.{fmt}"
        if fmt == "parquet":
            assert_frame_equal(pl.read_parquet(path), table.frame)
        else:
            back = pl.read_csv(path, try_parse_dates=True)
            assert back.columns == table.frame.columns and back.height == table.frame.height
    back = pl.read_csv(folder / "cost_teams.csv") if fmt == "csv" else pl.read_parquet(folder / "cost_teams.parquet")
    frame = next(t.frame for t in report.tables() if t.name == "cost_teams")
    assert back["total_cost"].to_list() == pytest.approx(frame["total_cost"].to_list(), rel=1e-12)


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


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
    db = make_store(tmp_path / "served.duckdb", analyze=False)
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
