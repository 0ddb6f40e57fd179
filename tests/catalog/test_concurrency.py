"""The catalog under several people and pipelines at once, through a real collector's API.

Writers apply changes while readers poll what the dashboard and pipelines poll. Every request must be
answered (no 500), every apply must take effect, and afterwards the catalog's invariants must hold: one
active version per definition, versions numbered without gaps, an audit log whose ``seq`` runs 1..N
and whose chain verifies. Each reader's answers must be consistent snapshots: a definition never shows
two active versions, even for an instant.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from tests.catalog.conftest import definition
from tests.conftest import bearer
from trellis.testing import RunningCollector, start_collector

pytestmark = pytest.mark.slow

DEFINITIONS = ("stress-a", "stress-b", "stress-c")
WRITERS, APPLIES_EACH = 2, 30
READS = ("/api/v1/catalog/pending", "/api/v1/catalog/definitions", "/api/v1/catalog/audit/verify")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, tokens_file: Path) -> Iterator[RunningCollector]:
    db = tmp_path_factory.mktemp("catalog-stress") / "trellis.duckdb"
    running = start_collector(db, "--tokens-file", str(tokens_file), headers=bearer("admin"))
    yield running
    running.stop()


def _definition(name: str, writer: int, step: int) -> dict[str, Any]:
    return definition(name, criteria=[{"app_id": name}], params={"backup_retention_days": 1 + writer * 100 + step})


def _write(api: RunningCollector, writer: int) -> list[int]:
    statuses = []
    with httpx.Client(base_url=api.api, headers=bearer("admin"), timeout=60) as client:
        for step in range(APPLIES_EACH):
            name = DEFINITIONS[(writer + step) % len(DEFINITIONS)]
            body = {"documents": [_definition(name, writer, step)], "source": f"writer-{writer}.yaml"}
            statuses.append(client.post("/api/v1/catalog/apply", json=body).status_code)
    return statuses


def _read(api: RunningCollector, path: str, done: threading.Event) -> tuple[Counter[int], list[str]]:
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    with httpx.Client(base_url=api.api, headers=bearer("reader"), timeout=60) as client:
        while not done.is_set():
            response = client.get(path)
            statuses[response.status_code] += 1
            if response.status_code != 200:
                continue
            body = response.json()
            if path.endswith("/definitions"):
                for d in body["definitions"]:
                    if "id" not in d:
                        problems.append(f"a definition without its row: {d}")
                        continue
                    active = [v["version"] for v in d["versions"] if v["state"] == "active"]
                    if len(active) > 1:
                        problems.append(f"{d['id']} showed active versions {active}")
            if path.endswith("/verify") and not body["ok"]:
                problems.append(f"verify said: {body['problem']}")
    return statuses, problems


def test_readers_and_writers_at_once_keep_every_invariant(api: RunningCollector) -> None:
    done = threading.Event()
    with ThreadPoolExecutor(WRITERS + len(READS)) as pool:
        readers = [pool.submit(_read, api, path, done) for path in READS]
        writers = [pool.submit(_write, api, w) for w in range(WRITERS)]
        applied = [status for w in writers for status in w.result()]
        done.set()
        read = [r.result() for r in readers]

    assert Counter(applied) == Counter({200: WRITERS * APPLIES_EACH})
    for (statuses, problems), path in zip(read, READS, strict=True):
        assert set(statuses) == {200}, f"{path}: {statuses}"
        assert problems == [], f"{path}: {problems[:3]}"
    _check_the_file(api)


def _check_the_file(api: RunningCollector) -> None:
    """After the collector stops, the tables themselves hold the invariants."""
    verify = httpx.get(f"{api.api}/api/v1/catalog/audit/verify", headers=bearer("reader"), timeout=30).json()
    assert verify["ok"], verify
    assert api.stop() == 0
    con = duckdb.connect(str(api.db), read_only=True)
    try:
        doubled = con.execute(
            "SELECT definition_id FROM catalog_versions WHERE state = 'active' GROUP BY 1 HAVING count(*) > 1"
        ).fetchall()
        gaps = con.execute(
            "SELECT definition_id FROM catalog_versions GROUP BY 1 HAVING max(version) <> count(*)"
        ).fetchall()
        seqs = con.execute("SELECT count(*), count(DISTINCT seq), max(seq) FROM catalog_audit").fetchone()
        activations = con.execute("SELECT count(*) FROM catalog_audit WHERE action = 'activate'").fetchone()
    finally:
        con.close()
    assert doubled == [] and gaps == []
    assert seqs is not None and seqs[0] == seqs[1] == seqs[2]
    assert activations == (WRITERS * APPLIES_EACH,)
