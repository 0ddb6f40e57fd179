"""trellis/analytics/dora.py against small hand-made deployment and incident histories, answers worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.analytics.conftest import deployment, incident, insert
from tests.analytics.scenarios import SCENARIO, SCENARIO_INCIDENTS, TWO_WEEKS
from trellis.analytics import dora, dora_reads
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.sources import Period, Sources

D = datetime
H = timedelta(hours=1)
SECOND = timedelta(seconds=1)


def run(con: duckdb.DuckDBPyConnection, period: Period = TWO_WEEKS, **config: Any) -> pl.DataFrame:
    return dora.run(Sources(con), period, AnalyticsConfig(**config))


def rows(frame: pl.DataFrame, level: str = "workload", bucket: str = "period", **keys: Any) -> pl.DataFrame:
    selected = frame.filter(pl.col("level") == level, pl.col("bucket") == bucket)
    for name, value in keys.items():
        selected = selected.filter(pl.col(name) == value)
    return selected


def test_a_fortnight_of_one_workload_worked_out_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    """d2 fails and d3 (2 h later) recovers it: rework. i1 (no cause) opens after d4, so d4 failed; d5 ships while
    i1 is open: rework. i2 names d1 as its cause and is still open. s1 is staging; 'old' is before the period."""
    insert(con, "deployments", SCENARIO)
    insert(con, "incidents", SCENARIO_INCIDENTS)
    frame = run(con)
    columns = [
        "bucket_start",
        "deployments",
        "successful_deployments",
        "deployment_days",
        "median_deployment_days_per_week",
        "deployment_frequency_band",
        "lead_time_changes",
        "lead_time_median_hours",
        "lead_time_band",
        "failed_deployments",
        "change_failure_rate",
        "change_failure_rate_band",
        "incidents",
        "recoveries",
        "unrecovered_failures",
        "recovery_median_hours",
        "recovery_band",
        "rework_deployments",
        "rework_rate",
    ]
    expected = pl.DataFrame(
        [
            # leads 24, 6, 24, 1, 12 h -> lower median 12 h; failed d1 (i2), d2, d4 (i1) of 6; recovered d2 in 2 h,
            # i1 in 3 h -> lower median 2 h; weeks deployed on 3 and 1 days -> lower median 1: high.
            (D(2026, 1, 5), 6, 5, 4, 1.0, "high", 5, 12.0, "elite", 3, 0.5, "low", 2, 2, 1, 2.0, "high", 2, 2 / 6),
            (D(2026, 1, 5), 5, 4, 3, None, None, 4, 6.0, "elite", 3, 0.6, "low", 1, 2, 0, 2.0, "high", 2, 0.4),
            (D(2026, 1, 12), 1, 1, 1, None, None, 1, 12.0, "elite", 0, 0.0, "elite", 1, 0, 1, None, None, 0, 0.0),
        ],
        schema={c: dora.SCHEMA[c] for c in columns},
        orient="row",
    )
    got = pl.concat(
        [
            rows(frame, service_name="checkout", environment="production"),
            rows(frame, bucket="week", service_name="checkout", environment="production"),
        ]
    ).select(columns)
    assert_frame_equal(got, expected)

    staging = rows(frame, service_name="checkout", environment="staging").row(0, named=True)
    assert staging["production"] is False
    assert (staging["deployments"], staging["deployment_days"]) == (1, 1)
    assert staging["lead_time_median_hours"] is None and staging["change_failure_rate"] is None
    assert staging["deployment_frequency_band"] == "medium"  # one day in the only (partial) month

    team = rows(frame, level="team", service_namespace="shop", environment="production").row(0, named=True)
    assert team["service_name"] is None and team["deployments"] == 6 and team["failed_deployments"] == 3
    assert rows(frame, level="environment", environment="production")["deployments"].to_list() == [6]
    assert rows(frame, level="week").height == 0
    assert rows(frame, bucket="week", service_name="checkout").height == 4  # two weeks x two environments


def test_an_incident_without_a_cause_is_linked_to_the_latest_successful_production_deployment(
    con: duckdb.DuckDBPyConnection,
) -> None:
    insert(
        con,
        "deployments",
        [
            deployment("early", D(2026, 1, 5, 9)),
            deployment("latest", D(2026, 1, 6, 9)),
            deployment("broken", D(2026, 1, 6, 10), status="failed"),  # not successful
            deployment("stage", D(2026, 1, 6, 11), environment="staging"),  # not production
            deployment("other", D(2026, 1, 6, 12), service="cart"),  # another workload
            deployment("eu", D(2026, 1, 6, 8), environment="production-eu"),
            deployment("after", D(2026, 1, 7, 9)),  # after the incident opened
        ],
    )
    insert(
        con,
        "incidents",
        [
            incident("in-prod", D(2026, 1, 6, 13), D(2026, 1, 6, 14)),
            incident("in-eu", D(2026, 1, 6, 13), D(2026, 1, 6, 14), environment="production-eu"),
            incident("no-env", D(2026, 1, 6, 13), D(2026, 1, 6, 14), environment=None),
            incident("named", D(2026, 1, 6, 13), D(2026, 1, 6, 14), caused_by="early"),
            incident("at-once", D(2026, 1, 7, 9), D(2026, 1, 7, 10)),  # opens the moment 'after' finishes
        ],
    )
    sources, config = Sources(con), AnalyticsConfig()
    deployments = dora.read_deployments(sources, config)
    incidents = sources.scan("incidents").collect()
    linked = dora.link_incidents(incidents, deployments, config).sort("incident_id")
    assert dict(zip(linked["incident_id"], linked["linked_deployment_id"], strict=True)) == {
        "at-once": "after",
        "in-eu": "eu",
        "in-prod": "latest",
        "named": "early",
        "no-env": "latest",  # any production environment: 'latest' (09:00) is later than 'eu' (08:00)
    }
    assert linked.filter(pl.col("incident_id") == "no-env")["environment"].to_list() == ["production"]

    frame = run(con)
    prod = rows(frame, service_name="checkout", environment="production").row(0, named=True)
    # early, latest, broken and after are failed changes (after by 'at-once'); 4 of 4 deployments
    assert (prod["deployments"], prod["failed_deployments"]) == (4, 4)
    eu = rows(frame, service_name="checkout", environment="production-eu").row(0, named=True)
    assert (eu["deployments"], eu["failed_deployments"], eu["incidents"]) == (1, 1, 1)


def _boundary_workloads(values: dict[str, timedelta]) -> list[dict[str, Any]]:
    start = D(2026, 1, 6, 12)
    return [deployment(name, start, service=name, first_commit_at=start - lead) for name, lead in values.items()]


def test_lead_time_bands_at_each_boundary(con: duckdb.DuckDBPyConnection) -> None:
    day, week, month = timedelta(days=1), timedelta(days=7), timedelta(days=30)
    leads = {
        "a": day - SECOND,
        "b": day,
        "c": week - SECOND,
        "d": week,
        "e": month - SECOND,
        "f": month,
    }
    insert(con, "deployments", _boundary_workloads(leads))
    frame = rows(run(con)).sort("service_name")
    assert frame["lead_time_band"].to_list() == ["elite", "high", "high", "medium", "medium", "low"]
    assert frame["lead_time_median_hours"].to_list()[1::2] == [24.0, 168.0, 720.0]


def test_recovery_bands_at_each_boundary(con: duckdb.DuckDBPyConnection) -> None:
    opened = D(2026, 1, 6)
    durations = {"a": H - SECOND, "b": H, "c": 24 * H - SECOND, "d": 24 * H, "e": 168 * H - SECOND, "f": 168 * H}
    insert(
        con,
        "incidents",
        [incident(name, opened, opened + spent, service=name) for name, spent in durations.items()],
    )
    insert(con, "deployments", [deployment("x", D(2026, 1, 5), service="unrelated")])
    frame = rows(run(con)).filter(pl.col("service_name") != "unrelated").sort("service_name")
    assert frame["recovery_band"].to_list() == ["elite", "high", "high", "medium", "medium", "low"]
    assert frame["recovery_median_hours"].to_list()[1::2] == [1.0, 24.0, 168.0]
    assert frame["incidents"].to_list() == [1] * 6


@pytest.mark.parametrize(
    ("failed", "total", "band"),
    [(0, 20, "elite"), (1, 20, "elite"), (1, 19, "high"), (2, 20, "high"), (3, 20, "medium"), (4, 26, "low")],
)
def test_change_failure_rate_bands_at_each_boundary(
    con: duckdb.DuckDBPyConnection, failed: int, total: int, band: str
) -> None:
    """5% is elite, 10% high, 15% medium; 1/19 (5.3%) is high and 4/26 (15.4%) low."""
    start = D(2026, 1, 5, 1)
    insert(
        con,
        "deployments",
        [deployment(f"d{n}", start + n * H, status="failed" if n < failed else "succeeded") for n in range(total)],
    )
    row = rows(run(con)).row(0, named=True)
    assert (row["failed_deployments"], row["deployments"]) == (failed, total)
    assert row["change_failure_rate"] == pytest.approx(failed / total)
    assert row["change_failure_rate_band"] == band


SUMMER = Period(D(2026, 6, 1), D(2026, 8, 31))
"""Thirteen whole weeks (1 June and 31 August 2026 are Mondays) and two whole months, June and July."""


def test_deployment_frequency_bands_at_each_boundary(con: duckdb.DuckDBPyConnection) -> None:
    start = SUMMER.start
    every_day = [start + timedelta(days=n, hours=9) for n in range(91)]
    six_a_week = [t for t in every_day if t.weekday() != 6]
    weekly = [start + timedelta(weeks=n, hours=9) for n in range(13)]
    three_weekly = [start + timedelta(weeks=n, hours=9) for n in range(0, 13, 3)]  # June 1, 22; July 13; Aug 3, 24
    schedule = {
        "elite": every_day,
        "high-6": six_a_week,
        "high-1": weekly,
        "medium": three_weekly,
        "low": [D(2026, 6, 10)],  # June 1 day, July 0 days
        "august": [D(2026, 8, 3), D(2026, 8, 10)],  # only in the partial month, which does not count
    }
    insert(
        con,
        "deployments",
        [deployment(f"{name}-{n}", at, service=name) for name, times in schedule.items() for n, at in enumerate(times)],
    )
    frame = rows(run(con, SUMMER))
    got = dict(zip(frame["service_name"], frame["deployment_frequency_band"], strict=True))
    assert got == {
        "elite": "elite",
        "high-6": "high",
        "high-1": "high",
        "medium": "medium",
        "low": "low",
        "august": "low",
    }
    medians = dict(zip(frame["service_name"], frame["median_deployment_days_per_week"], strict=True))
    assert medians == {"elite": 7.0, "high-6": 6.0, "high-1": 1.0, "medium": 0.0, "low": 0.0, "august": 0.0}
    per_month = dict(zip(frame["service_name"], frame["median_deployment_days_per_month"], strict=True))
    assert (per_month["medium"], per_month["low"]) == (1.0, 0.0)


def test_production_is_a_configurable_prefix(con: duckdb.DuckDBPyConnection) -> None:
    insert(
        con,
        "deployments",
        [
            deployment("a", D(2026, 1, 6), environment="production-eu", first_commit_at=D(2026, 1, 5)),
            deployment("b", D(2026, 1, 6), environment="live", first_commit_at=D(2026, 1, 5)),
        ],
    )
    default = rows(run(con)).sort("environment")
    assert default["production"].to_list() == [False, True]
    assert default["lead_time_median_hours"].to_list() == [None, 24.0]
    custom = rows(run(con, production_environments=("live", "production"))).sort("environment")
    assert custom["production"].to_list() == [True, True]


def test_missing_tables_and_no_data_give_the_documented_empty_frame(con: duckdb.DuckDBPyConnection) -> None:
    assert_frame_equal(run(con), pl.DataFrame(schema=dora.SCHEMA))
    bare = duckdb.connect()
    assert_frame_equal(run(bare), pl.DataFrame(schema=dora.SCHEMA))
    insert(con, "deployments", [deployment("before", D(2025, 1, 1))])
    assert run(con).is_empty()
    con.execute("DROP TABLE incidents")
    insert(con, "deployments", [deployment("in", D(2026, 1, 6))])
    assert rows(run(con))["deployments"].to_list() == [1]


def test_a_failed_deployment_without_a_service_name_never_recovers(con: duckdb.DuckDBPyConnection) -> None:
    """It names no service to follow, so the next successful deployment without a name does not recover it."""
    insert(
        con,
        "deployments",
        [
            deployment("failed", D(2026, 1, 6, 9), status="failed", service=None),
            deployment("next", D(2026, 1, 6, 10), service=None),
        ],
    )
    row = rows(run(con)).row(0, named=True)
    assert (row["service_name"], row["failed_deployments"]) == (None, 1)
    assert (row["recoveries"], row["unrecovered_failures"], row["rework_deployments"]) == (0, 1, 1)


def test_workload_numbers_that_collide_are_hashed_again(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job groups by hashes of the names; when two names hash alike it hashes them again with another salt,
    and gives up after a few salts."""
    insert(con, "deployments", SCENARIO)
    insert(con, "incidents", SCENARIO_INCIDENTS)
    expected = run(con)
    hashes = dora_reads._numbers
    collide = ", ".join(f"0::UBIGINT AS {number}" for number in dora_reads._NUMBERS)
    monkeypatch.setattr(dora_reads, "_numbers", lambda salt: collide if salt == 0 else hashes(salt))
    assert_frame_equal(run(con), expected)
    monkeypatch.setattr(dora_reads, "_numbers", lambda salt: collide)
    with pytest.raises(RuntimeError, match="hashed to the same number"):
        run(con)
