"""trellis/collector/snapshots.py: a bounded number of copies in flight, each removed when its download
ends, finished or not; copies left by a killed collector removed at the next start."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from trellis.testing import PROTOBUF_HEADERS, logs_request, metrics_export, start_collector

pytestmark = pytest.mark.slow


def copies(db: Path) -> list[Path]:
    return sorted((db.parent / f".{db.name}.snapshots").glob("snapshot-*"))


def test_stalled_downloads_hold_at_most_max_snapshots_copies_and_leave_none(tmp_path: Path) -> None:
    db = tmp_path / "trellis.duckdb"
    collector = start_collector(db, "--max-snapshots", "2", "--analytics-interval-seconds", "0")
    try:
        for key in range(1, 6):
            response = httpx.post(
                f"{collector.otlp_http}/v1/metrics", content=metrics_export("snap", key, 1000), headers=PROTOBUF_HEADERS
            )
            assert response.status_code == 200
        for _ in range(12):  # ~36 MB of logs that do not compress: more than the sockets between us hold
            records = [{"timeUnixNano": "1", "body": {"stringValue": os.urandom(1536).hex()}} for _ in range(1000)]
            response = httpx.post(f"{collector.otlp_http}/v1/logs", json=logs_request(records), timeout=60)
            assert response.status_code == 200
        stalled = [httpx.Client(timeout=60) for _ in range(2)]
        streams = [client.stream("POST", f"{collector.api}/api/v1/snapshot") for client in stalled]
        readers = []
        for stream in streams:
            response = stream.__enter__()
            assert response.status_code == 200
            readers.append(response.iter_raw(1024))
            next(readers[-1])  # started, then the client stops reading (and keeps the connection)

        third = httpx.post(f"{collector.api}/api/v1/snapshot", timeout=60)
        assert third.status_code == 503
        assert third.json()["error"] == "2 snapshots are being taken or downloaded; retry later"
        assert len(copies(db)) == 2

        for stream, client in zip(streams, stalled, strict=True):
            stream.__exit__(None, None, None)
            client.close()
        deadline = time.monotonic() + 20
        while copies(db) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert copies(db) == [], "a download that ended left its copy"

        whole = httpx.post(f"{collector.api}/api/v1/snapshot", timeout=60)
        assert whole.status_code == 200
        (tmp_path / "copy.duckdb").write_bytes(whole.content)
        with duckdb.connect(str(tmp_path / "copy.duckdb"), read_only=True) as con:
            rows = con.execute("SELECT count(*) FROM otel_metrics_gauge WHERE metric_name = 'snap'").fetchone()
        assert rows == (5000,)
        assert copies(db) == []
    finally:
        collector.stop()


def test_copies_left_by_a_killed_collector_are_removed_at_the_next_start(tmp_path: Path) -> None:
    db = tmp_path / "trellis.duckdb"
    folder = db.parent / f".{db.name}.snapshots"
    folder.mkdir(parents=True)
    (folder / "snapshot-0123456789abcdef.duckdb").write_bytes(b"x" * 1024)
    collector = start_collector(db, "--analytics-interval-seconds", "0")
    try:
        assert copies(db) == []
    finally:
        collector.stop()
