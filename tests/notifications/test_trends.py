"""trellis/notifications/trends.py: the conditions read from the analytics' answers, on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb

from tests.analytics.conftest import con, deployment, insert  # noqa: F401 (con: the analytics' store fixture)
from tests.analytics.scenarios import HOUR, containers
from trellis.analytics import AnalyticsConfig, Answers
from trellis.notifications.rules import Rule
from trellis.notifications.trends import Reach, RefusalHistory, bands_fallen, idle_costs

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def reach(store: duckdb.DuckDBPyConnection, **config: object) -> Reach:
    return Reach(store, None, Answers(store, AnalyticsConfig(**config)))  # type: ignore[arg-type]


def rule(on: str, **options: float) -> Rule:
    return Rule.model_validate({"name": "r", "on": on, "options": options, "channels": ["c"]})


def test_a_team_deploying_daily_then_once_has_fallen_a_frequency_band(con: duckdb.DuckDBPyConnection) -> None:  # noqa: F811
    days = [NOW - timedelta(days=d, hours=1) for d in range(8, 15)] + [NOW - timedelta(days=2)]
    insert(con, "deployments", [deployment(f"d{i}", at) for i, at in enumerate(days)])
    found = bands_fallen(reach(con), rule("dora.band_fell"), NOW)
    frequency = [n for n in found if n.data["metric"] == "deployment_frequency"]
    assert [(n.key, n.data["band_before"], n.data["band"]) for n in frequency] == [
        ("dora/shop/production/deployment_frequency", "elite", "high")
    ]
    assert frequency[0].subject == "shop in production: deployment frequency fell from elite to high"


def test_a_team_that_keeps_its_pace_has_fallen_no_band(con: duckdb.DuckDBPyConnection) -> None:  # noqa: F811
    days = [NOW - timedelta(days=d, hours=1) for d in range(0, 14)]
    insert(con, "deployments", [deployment(f"d{i}", at) for i, at in enumerate(days)])
    assert bands_fallen(reach(con), rule("dora.band_fell"), NOW) == []


def test_idle_cost_above_the_threshold_notifies_and_below_does_not(con: duckdb.DuckDBPyConnection) -> None:  # noqa: F811
    containers(con)  # 'over' requests 1 core and 1 GiB for an hour and uses a quarter of each
    prices = {"cpu_core_hour": 10.0, "memory_gib_hour": 2.0}
    now = HOUR.start.replace(tzinfo=UTC) + timedelta(days=1)
    found = idle_costs(reach(con, prices=prices), rule("cost.idle", threshold=5), now)
    # 9.00 an hour, over the hour and the five minutes before it that the first points hold: 9.75
    assert [(n.key, n.data["idle_cost"]) for n in found] == [("cost/shop", 9.75)]
    assert found[0].subject == "shop: idle cost 9.75 USD over 7 days"
    assert idle_costs(reach(con, prices=prices), rule("cost.idle", threshold=10), now) == []


def test_refusals_are_counted_within_the_window_from_what_each_turn_saw() -> None:
    counts = {"github": 0}
    history = RefusalHistory(lambda: dict(counts))
    window = timedelta(minutes=10)
    assert history.within(NOW, window) == {}
    counts["github"] = 3
    assert history.within(NOW + timedelta(minutes=5), window) == {"github": 3}
    counts["github"] = 4  # the three of minute 5 leave the window at minute 15
    assert history.within(NOW + timedelta(minutes=16), window) == {"github": 1}
    assert history.within(NOW + timedelta(minutes=40), window) == {}
    assert RefusalHistory().within(NOW, window) == {}
