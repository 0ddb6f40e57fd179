"""Shared fixtures, cheapest first: paths and payloads, then a running collector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from trellis.testing import RunningCollector, start_collector

ROOT = Path(__file__).resolve().parents[1]
OTLP_EXAMPLES = ROOT / "tests" / "fixtures" / "otlp-examples"
EXAMPLE_SIGNALS = {"metrics": "metrics", "logs": "logs", "events": "logs", "trace": "traces"}
"""Each official example file and the signal it is an export of."""

TOKENS = {
    "ingester": ("tok-ingest-1234567890", ["ingest"]),
    "reader": ("tok-read-1234567890", ["read"]),
    "admin": ("tok-admin-1234567890", ["admin"]),
    "approver": ("tok-approve-1234567890", ["approve", "read"]),
    "deployer": ("tok-deploy-1234567890", ["deploy"]),
}


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the wire decoder (``trellis.collector.otlp_wire``) once, before test workers and collectors start:
    numba keeps it on disk, and they load it from there instead of each compiling it at once."""
    if not hasattr(session.config, "workerinput"):
        from trellis.collector import otlp_wire

        otlp_wire.warm_up()


@pytest.fixture
def make_collector(tmp_path: Path) -> Iterator[Callable[..., RunningCollector]]:
    """Factory: start collectors for one test; all are stopped afterwards."""
    started: list[RunningCollector] = []

    def make(*args: str, db: Path | None = None, headers: dict[str, str] | None = None) -> RunningCollector:
        running = start_collector(db or tmp_path / "trellis.duckdb", *args, headers=headers)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """One open (tokenless) collector shared by the tests that only add data. Its rollups are off: a turn
    that rolls hours up while a test compares the tables before and after a request would change them."""
    running = start_collector(tmp_path_factory.mktemp("shared") / "trellis.duckdb", "--rollup-interval-seconds", "0")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "tokens.yaml"
    entries = [{"name": name, "token": token, "scopes": scopes} for name, (token, scopes) in TOKENS.items()]
    path.write_text(yaml.safe_dump({"tokens": entries}))
    return path


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}
