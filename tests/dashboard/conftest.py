"""A collector with a platform's worth of data (and an empty one) for the dashboard's tests, and AppTest helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard import scenario
from trellis.testing import RunningCollector, start_collector

APP = Path(__file__).resolve().parents[2] / "trellis" / "dashboard" / "app.py"
PAGES = ["overview", "delivery", "resources", "catalog", "rollouts", "approvals", "legacy", "reports", "explore",
         "connectors"]  # fmt: skip


def start_platform(root: Path, days: int, workloads: int) -> tuple[RunningCollector, scenario.Scenario]:
    """A collector with tokens (alice, bob, reader, ingester) filled with ``days`` of history."""
    root.mkdir(parents=True, exist_ok=True)
    tokens = root / "tokens.yaml"
    tokens.write_text(scenario.tokens_yaml())
    running = start_collector(
        root / "trellis.duckdb", "--tokens-file", str(tokens), "--analytics-interval-seconds", "0",
        headers=scenario.bearer("reader"),
    )  # fmt: skip
    try:
        return running, scenario.populate(running, days=days, workloads=workloads)
    except BaseException:
        running.stop()
        raise


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCollector, scenario.Scenario]]:
    """Three weeks of a dozen workloads: small enough to be quick, big enough for every page to have data.

    Tests that change the catalog use ``changing_platform``; this one is only read."""
    running, made = start_platform(tmp_path_factory.mktemp("platform"), days=21, workloads=12)
    yield running, made
    running.stop()


@pytest.fixture
def empty_collector(tmp_path: Path) -> Iterator[RunningCollector]:
    """A collector without tokens and without data."""
    running = start_collector(tmp_path / "empty.duckdb", "--analytics-interval-seconds", "0")
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with an empty Streamlit cache and no dashboard settings from the environment; the
    charts the pages draw are validated."""
    import streamlit as st

    from trellis.dashboard import charts

    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setattr(charts, "VALIDATE", True)  # every chart a page draws is checked against Vega-Lite's schema
    for name in ("TRELLIS_API", "TRELLIS_TOKEN", "TRELLIS_DASHBOARD_DB"):
        monkeypatch.delenv(name, raising=False)
