"""trellis/analytics/answers.py and slices.py: a job's answer for the period, teams and environments asked
equals the job run on a store that holds only their rows, whoever else asks at the same time; computing it
writes nothing others read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime as D
from typing import Any

import duckdb
import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.analytics.conftest import deployment, incident, insert
from tests.analytics.scenarios import HOUR, steady
from trellis.analytics import answers as answers_module
from trellis.analytics import dora, utilization
from trellis.analytics.answers import Answers
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.slices import Slice
from trellis.analytics.sources import Period, Sources
from trellis.catalog.tables import migrate_catalog
from trellis.collector import read_only_file
from trellis.collector.schema import migrate
from trellis.testing import RunningCollector, finish, trellis
from trellis.testing.analytics_store import SMALL_STORE_PERIOD, make_small_analytics_store

PERIOD = Period(D(2026, 1, 5), D(2026, 1, 19))
TEAMS = ("shop", "billing", "o'brien")
ENVIRONMENTS = ("production", "staging")


def _deployments(team: str, environment: str) -> list[dict[str, Any]]:
    return [
        deployment(f"{team}-{environment}-{day}", D(2026, 1, 5 + day, 10), status="failed" if day % 4 == 0 else
                   "succeeded", service=f"{team}-api", namespace=team, environment=environment,
                   first_commit_at=D(2026, 1, 4 + day, 8 + day % 5))
        for day in range(0, 14, 1 + len(team) % 3)
    ]  # fmt: skip


def _incidents(team: str, environment: str) -> list[dict[str, Any]]:
    return [incident(f"{team}-{environment}-i", D(2026, 1, 9, 10), D(2026, 1, 9, 10 + len(team)),
                     service=f"{team}-api", namespace=team, environment=environment)]  # fmt: skip


def _usage(team: str, environment: str) -> list[dict[str, Any]]:
    series = 10 * TEAMS.index(team) + ENVIRONMENTS.index(environment)
    rows = steady(f"{team}-api", series, "container.cpu.usage", 0.1 * (1 + series))
    return [{**r, "service_namespace": team, "deployment_environment_name": environment} for r in rows]


def _store(pairs: list[tuple[str, str]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    migrate(con)
    migrate_catalog(con)
    for team, environment in pairs:
        insert(con, "deployments", _deployments(team, environment))
        insert(con, "incidents", _incidents(team, environment))
        insert(con, "otel_metrics_gauge", _usage(team, environment))
    return con


EVERYONE = [(t, e) for t in TEAMS for e in ENVIRONMENTS]


@pytest.mark.parametrize(
    ("teams", "environments"),
    [(("shop",), ()), (("shop", "o'brien"), ("production",)), ((), ("staging",)), ((), ())],
)
def test_an_answer_equals_the_job_on_a_store_of_only_the_rows_asked_about(
    teams: tuple[str, ...], environments: tuple[str, ...]
) -> None:
    everything = _store(EVERYONE)
    only = _store([(t, e) for t, e in EVERYONE if (not teams or t in teams) and
                   (not environments or e in environments)])  # fmt: skip
    answers = Answers(everything, AnalyticsConfig())

    asked = Slice(teams, environments)
    for job, period in ((dora.JOB, PERIOD), (utilization.JOB, HOUR)):
        answer = answers.answer(job.name, period, asked).frame
        expected = job.run(Sources(only), period, AnalyticsConfig())
        assert answer.height == expected.height > 0
        assert_frame_equal(answer, expected)


def test_answers_asked_at_once_about_different_teams_each_see_only_their_own() -> None:
    everything = _store(EVERYONE)
    answers = Answers(everything, AnalyticsConfig())
    asked = [Slice((team,), ()) for team in TEAMS] * 3

    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda s: answers.answer("dora", PERIOD, s).frame, asked))

    for slice_, frame in zip(asked, got, strict=True):
        expected = dora.run(Sources(_store([(slice_.teams[0], e) for e in ENVIRONMENTS])), PERIOD, AnalyticsConfig())
        assert_frame_equal(frame, expected)


def test_an_answer_says_what_it_covers() -> None:
    answers = Answers(_store(EVERYONE), AnalyticsConfig())
    assert answers.answer("dora", PERIOD, Slice()).covers == (
        "2026-01-05 to 2026-01-19 (UTC, the end excluded); every team and environment"
    )
    cost = answers.answer("cost", HOUR, Slice(("shop",), ("production",))).covers
    assert cost.startswith("2026-01-05 10:00 to 2026-01-05 11:00 (UTC, the end excluded); teams shop and "
                           "environments production; the catalog")  # fmt: skip


def test_the_api_answers_for_the_slice_and_writes_nothing(make_collector: Callable[..., RunningCollector]) -> None:
    running = make_collector()
    body = {"from": "2026-01-05", "to": "2026-01-19", "teams": ["shop"], "environments": ["production"]}

    answer = httpx.post(f"{running.api}/api/v1/analytics/dora", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert (got["job"], got["teams"], got["environments"]) == ("dora", ["shop"], ["production"])
    assert got["covers"].endswith("teams shop and environments production")
    assert [c["name"] for c in got["columns"]][:2] == [c for c in dora.SCHEMA][:2]

    tables = httpx.post(
        f"{running.api}/api/v1/query", json={"sql": "SELECT table_name FROM duckdb_tables()"}, timeout=30
    ).json()["rows"]
    assert ["analytics_dora"] not in tables

    unknown = httpx.post(f"{running.api}/api/v1/analytics/nope", json={}, timeout=30)
    assert unknown.status_code == 404 and "the jobs are dora" in unknown.json()["error"]
    bad = httpx.post(f"{running.api}/api/v1/analytics/dora", json={"teams": "shop"}, timeout=30)
    assert bad.status_code == 400

    args = ["--from", "2026-01-05", "--to", "2026-01-19", "--team", "shop", "--env", "production"]
    code, out, err = finish(trellis("answer", "dora", *args, "--api", running.api))
    assert code == 0, err
    assert out.splitlines()[0] == (
        "dora: 2026-01-05 to 2026-01-19 (UTC, the end excluded); teams shop and environments production"
    )
    code, out, err = finish(trellis("answer", "nope", "--api", running.api))
    assert code == 1 and err.startswith("error: ") and "unknown job 'nope'" in err


def test_an_answer_waits_for_a_turn_and_then_says_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers_module, "WAIT_SECONDS", 0.1)
    answers = Answers(_store([("shop", "production")]), AnalyticsConfig())
    for _ in range(answers_module.RUNNING):
        assert answers._slots.acquire(blocking=False)  # every slot taken by answers still running
    with pytest.raises(answers_module.Busy, match="2 answers are being computed; retry in a moment"):
        answers.answer("dora", PERIOD, Slice())
    answers._slots.release()
    assert answers.answer("dora", PERIOD, Slice()).frame.height > 0


@pytest.fixture(scope="module")
def organisation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    store = make_small_analytics_store(tmp_path_factory.mktemp("answers") / "store.duckdb", analyze=False)
    con = read_only_file(store)
    yield con
    con.close()


@pytest.mark.parametrize(("job", "level", "team_column"), [("cost", "team", "team"), ("demand", "team", "app")])
def test_a_teams_answer_counts_its_catalog_resources_as_the_platform_answer_does(
    organisation: duckdb.DuckDBPyConnection, job: str, level: str, team_column: str
) -> None:
    """Bindings and misses keep to the team asked about: its own figures, not zero and not everyone's."""
    answers = Answers(organisation, AnalyticsConfig())
    everyone = answers.answer(job, SMALL_STORE_PERIOD, Slice()).frame
    team = answers.answer(job, SMALL_STORE_PERIOD, Slice(("team-02",), ())).frame
    expected = everyone.filter(pl.col("level") == level, pl.col(team_column) == "team-02")
    got = team.filter(pl.col("level") == level)
    assert expected.height > 0 and set(got[team_column]) == {"team-02"}
    assert_frame_equal(got.sort(got.columns), expected.sort(expected.columns))
