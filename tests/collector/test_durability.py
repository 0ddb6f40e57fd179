"""An acknowledged export is never lost: not by a SIGKILL, not by a failing neighbour, not by close()."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pytest

from tests.conftest import ROOT
from trellis.collector.batch import ExportBatch
from trellis.collector.store import Store
from trellis.testing import (
    PROTOBUF_HEADERS,
    RunningCollector,
    count_rows,
    gauge_batch,
    metrics_export,
    stored_exports,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "store.duckdb")
    yield opened
    if opened._writer.is_alive():
        opened.close()


# --- the crash test ----------------------------------------------------------------------------


CLIENTS = 4
POINTS = 500
ACKED_BEFORE_KILL = 60


def test_every_acknowledged_point_survives_a_sigkill_mid_ingest(
    make_collector: Callable[..., RunningCollector], tmp_path: Path
) -> None:
    db = tmp_path / "crash.duckdb"
    metric = "crash.test"
    running = make_collector(db=db)
    acked: list[set[int]] = [set() for _ in range(CLIENTS)]
    cut_off: list[bool] = [False] * CLIENTS
    unexpected: list[str] = []

    def client(c: int) -> None:
        with httpx.Client(timeout=30) as http:
            for export in range(10_000):
                key = c * 100_000 + export
                try:
                    response = http.post(
                        f"{running.otlp_http}/v1/metrics",
                        content=metrics_export(metric, key, POINTS),
                        headers=PROTOBUF_HEADERS,
                    )
                except httpx.TransportError:
                    cut_off[c] = True
                    return
                if response.status_code == 200:
                    acked[c].add(key)
                elif response.status_code != 503:
                    unexpected.append(f"{response.status_code}: {response.text}")
                    return

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while sum(map(len, acked)) < ACKED_BEFORE_KILL and time.monotonic() < deadline and not unexpected:
        time.sleep(0.01)
    running.process.send_signal(signal.SIGKILL)
    running.process.wait(10)
    for thread in threads:
        thread.join(30)
    assert not unexpected
    assert running.process.returncode == -signal.SIGKILL
    assert all(cut_off), "every client should have been sending when the collector died"
    acknowledged = set().union(*acked)
    assert len(acknowledged) >= ACKED_BEFORE_KILL

    restarted = make_collector(db=db)
    stored = stored_exports(restarted.api, metric)

    missing = {key for key in acknowledged if stored.get(key) != POINTS}
    assert not missing, f"acknowledged exports lost or incomplete after SIGKILL: {sorted(missing)[:10]}"
    partial = {key: n for key, n in stored.items() if n != POINTS}
    assert not partial, f"exports stored in part: {partial}"
    # Exports committed but never acknowledged can only be the ones in flight at the kill.
    assert len(set(stored) - acknowledged) <= CLIENTS
    # The restarted collector keeps ingesting into the recovered file.
    response = httpx.post(
        f"{restarted.otlp_http}/v1/metrics", content=metrics_export(metric, 999_999, POINTS), headers=PROTOBUF_HEADERS
    )
    assert response.status_code == 200
    assert stored_exports(restarted.api, metric)[999_999] == POINTS


WRITER_SCRIPT = """
import sys, threading
from pathlib import Path
from trellis.collector.batch import ExportBatch
from trellis.collector.store import Store
from trellis.testing import gauge_batch

store = Store(Path(sys.argv[1]))
acks = open(sys.argv[2], "a")
lock = threading.Lock()

def writer(t):
    for n in range(1_000):
        key = t * 10_000 + n
        points = 130_000 if n % 2 == 0 else 300
        store.write(gauge_batch(key, points, metric=f"big.{key}"), timeout=120)
        with lock:
            acks.write(f"{key} {points}\\n")
            acks.flush()

threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_acknowledged_large_writes_survive_a_sigkill(tmp_path: Path) -> None:
    """Batches beyond a row group, which DuckDB writes straight into the file, are as durable as small ones."""
    db, acks = tmp_path / "big.duckdb", tmp_path / "acks.txt"
    acks.touch()
    process = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(db), str(acks)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while acks.read_text().count("\n") < 8 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert process.poll() is None, "the writer stopped before it was killed"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    acknowledged = {}
    for line in acks.read_text().splitlines(keepends=True):
        if line.endswith("\n"):
            key, points = line.split()
            acknowledged[f"big.{key}"] = int(points)
    assert len(acknowledged) >= 8

    store = Store(db)  # opens read-write, replaying the write-ahead log as the collector would
    try:
        stored = dict(
            store.cursor()
            .execute("SELECT metric_name, count(*) FROM otel_metrics_gauge GROUP BY metric_name")
            .fetchall()
        )
    finally:
        store.close()
    assert {m: stored.get(m) for m in acknowledged} == acknowledged
    whole = {m: n for m, n in stored.items() if n in (130_000, 300)}
    assert whole == stored, "a write is stored whole or not at all"


# --- the store's group commit ------------------------------------------------------------------


def test_concurrent_writes_all_land_and_share_commits(store: Store) -> None:
    threads_n, writes_each, points = 16, 20, 100
    failures: list[BaseException] = []

    def writer(t: int) -> None:
        for w in range(writes_each):
            try:
                store.write(gauge_batch(t * 1_000 + w, points), timeout=30)
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not failures
    total = threads_n * writes_each
    assert count_rows(store.cursor()) == total * points
    assert store.counters.points_ingested == total * points
    assert store.counters.commits < total, "concurrent writes should be grouped into fewer commits"
    assert store.queued_points == 0
    assert store.counters.last_commit_at is not None


def test_a_failing_batch_fails_only_its_own_future(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="trellis.store")
    broken_table = pa.table({"metric_name": ["broken"], "not_a_column": [1]})
    broken = ExportBatch("metrics", {"otel_metrics_gauge": broken_table}, accepted=1)
    good = [gauge_batch(k, 50) for k in range(1, 21)]
    # A large batch first keeps the writer busy, so that the rest queue up and go in one group.
    slow = store.submit(gauge_batch(0, 200_000))
    before = [store.submit(batch) for batch in good[:10]]
    failing = store.submit(broken)
    after = [store.submit(batch) for batch in good[10:]]

    slow.result(60)
    for future in before + after:
        assert future.result(60) is None
    with pytest.raises((duckdb.Error, ValueError)):
        failing.result(60)

    assert count_rows(store.cursor()) == 200_000 + 20 * 50
    broken_rows = store.cursor().execute("SELECT count(*) FROM otel_metrics_gauge WHERE metric_name = 'broken'")
    assert broken_rows.fetchone() == (0,)
    assert store.counters.points_ingested == 200_000 + 20 * 50
    assert store.queued_points == 0
    grouped = [r for r in caplog.records if "group commit of" in r.getMessage()]
    assert grouped, "the broken batch should have been part of a group commit"
    assert int(grouped[0].getMessage().split()[3]) > 1
    # The store keeps working afterwards.
    store.write(gauge_batch(99, 10), timeout=30)
    assert count_rows(store.cursor()) == 200_000 + 20 * 50 + 10


def test_close_writes_everything_that_was_queued(tmp_path: Path) -> None:
    path = tmp_path / "close.duckdb"
    store = Store(path)
    futures = [store.submit(gauge_batch(k, 1_000)) for k in range(50)]
    store.close()

    assert all(f.done() and f.exception() is None for f in futures)
    assert not store._writer.is_alive()
    with duckdb.connect(str(path), read_only=True) as con:
        assert count_rows(con) == 50 * 1_000
    # close() checkpoints: the file alone holds the data, with no write-ahead log left to replay.
    wal = path.with_name(path.name + ".wal")
    assert not wal.exists() or wal.stat().st_size == 0
