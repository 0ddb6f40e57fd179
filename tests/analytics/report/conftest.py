"""The report tests' store: the small generated organisation (``trellis.testing.analytics_store``), 12
workloads over two weeks with container metrics, deployments, incidents and a catalog, analyzed once per
session, and the report built from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis.analytics import AnalyticsConfig
from trellis.analytics.report import FileReader, Report, make_report
from trellis.testing.analytics_store import SMALL_STORE_PERIOD, make_small_analytics_store

PERIOD = SMALL_STORE_PERIOD
"""2026-01-05 to 2026-01-19: every job ran for it."""


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_analytics_store(tmp_path_factory.mktemp("report") / "store.duckdb")


@pytest.fixture(scope="session")
def report(store: Path) -> Iterator[Report]:
    reader = FileReader(store, AnalyticsConfig())
    try:
        yield make_report(reader, PERIOD, None, progress=lambda _: None)
    finally:
        reader.close()
