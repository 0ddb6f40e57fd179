"""A full disk, on a small filesystem made for the test: health says so with the reason, ingest answers
503 with Retry-After, nothing acknowledged is lost, and the collector recovers once there is space.

When only the write-ahead log cannot grow, the next commit after space is back succeeds in the same
process. When DuckDB invalidated the database (a checkpoint failed), the collector keeps answering
unhealthy until space is back, then exits with status 75 for its supervisor to restart it; the new
process finds every acknowledged export. Shutdown is one clean line in either case.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from trellis.testing import PROTOBUF_HEADERS, RunningCollector, metrics_export, start_collector, stored_exports

pytestmark = pytest.mark.slow

EXIT_RESTART = 75


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB filesystem of its own (tmpfs), unmounted afterwards."""
    if not _can_mount():
        pytest.skip("making a small filesystem needs root and mount")
    disk = tmp_path / "disk"
    disk.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """A file that leaves ``leave`` bytes free on ``disk``."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.truncate(0)
        remaining = stats.f_bavail * stats.f_frsize - leave
        chunk = b"\0" * (1 << 20)
        while remaining > 0:
            out.write(chunk[: min(len(chunk), remaining)])
            remaining -= len(chunk)
    return filler


def send(collector: RunningCollector, metric: str, key: int) -> httpx.Response:
    body = metrics_export(metric, key, 1000)
    return httpx.post(f"{collector.otlp_http}/v1/metrics", content=body, headers=PROTOBUF_HEADERS, timeout=60)


def send_until_refused(collector: RunningCollector, metric: str, keys: range) -> tuple[list[int], list[httpx.Response]]:
    """Exports until five in a row are refused: the keys acknowledged, and the refusals."""
    acknowledged, refused = [], []
    for key in keys:
        response = send(collector, metric, key)
        if response.status_code == 200:
            acknowledged.append(key)
            refused.clear()
        else:
            refused.append(response)
            if len(refused) == 5:
                break
    return acknowledged, refused


def health(collector: RunningCollector) -> httpx.Response:
    return httpx.get(f"{collector.api}/api/v1/health", timeout=30)


def assert_retry_later(refused: list[httpx.Response]) -> None:
    assert refused, "the disk never filled"
    for response in refused:
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) >= 1


def test_a_full_write_ahead_log_answers_503_then_recovers_in_the_same_process(small_disk: Path) -> None:
    collector = start_collector(small_disk / "trellis.duckdb", "--analytics-interval-seconds", "0")
    metric = f"disk.{uuid.uuid4().hex[:8]}"
    try:
        filler = fill(small_disk, leave=2 << 20)
        acknowledged, refused = send_until_refused(collector, metric, range(1, 2_000))

        assert_retry_later(refused)
        unhealthy = health(collector)
        assert unhealthy.status_code == 503
        assert unhealthy.json()["status"] == "unhealthy"
        assert "No space left on device" in unhealthy.json()["reason"]

        filler.unlink()
        after = send(collector, metric, 5_000)
        assert after.status_code == 200, after.text
        assert health(collector).json()["status"] == "ok"
        acknowledged.append(5_000)
    finally:
        code = collector.stop()
    assert code == 0, collector.log()
    restarted = start_collector(small_disk / "trellis.duckdb", "--analytics-interval-seconds", "0")
    try:
        stored = stored_exports(restarted.api, metric)
    finally:
        restarted.stop()
    assert all(stored.get(key) == 1000 for key in acknowledged)


def test_an_invalidated_database_stays_unhealthy_until_space_then_exits_for_a_restart(small_disk: Path) -> None:
    """The store checkpoints every million points; with the disk full that checkpoint fails and DuckDB
    invalidates the database."""
    collector = start_collector(small_disk / "trellis.duckdb", "--analytics-interval-seconds", "0")
    metric = f"disk.{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(4) as pool:
        preloaded = list(pool.map(lambda key: send(collector, metric, key).status_code, range(1, 981)))
    assert set(preloaded) == {200}
    filler = fill(small_disk, leave=1 << 20)
    try:
        acknowledged, refused = send_until_refused(collector, metric, range(1_000, 3_000))
        assert_retry_later(refused)
        deadline = time.monotonic() + 30
        while "needs a restart" not in health(collector).json().get("reason", "") and time.monotonic() < deadline:
            send(collector, metric, 9_999)
        answer = health(collector)
        assert answer.status_code == 503 and "needs a restart" in answer.json()["reason"], answer.text
        assert collector.process.poll() is None, "it must wait for space before it exits"
    finally:
        filler.unlink()
    code = collector.process.wait(timeout=60)
    log = collector.log()
    assert code == EXIT_RESTART, log
    assert "Traceback" not in log.split("Trellis collector on")[-1].split("INFO")[-1]
    assert "exiting with status 75" in log

    restarted = start_collector(small_disk / "trellis.duckdb", "--analytics-interval-seconds", "0")
    try:
        stored = stored_exports(restarted.api, metric)
    finally:
        restarted.stop()
    assert all(stored.get(key) == 1000 for key in [*range(1, 981), *acknowledged])


def test_a_shutdown_with_the_disk_full_is_one_line_and_loses_nothing(small_disk: Path) -> None:
    collector = start_collector(small_disk / "trellis.duckdb", "--analytics-interval-seconds", "0")
    metric = f"disk.{uuid.uuid4().hex[:8]}"
    acknowledged = [key for key in range(1, 40) if send(collector, metric, key).status_code == 200]
    filler = fill(small_disk, leave=256 << 10)
    code = collector.stop()
    log = collector.log()
    assert code == 0, log
    assert "unexpected" not in log and "FatalException" not in log.split("collector stopped")[-1]
    filler.unlink()

    restarted = start_collector(small_disk / "trellis.duckdb", "--analytics-interval-seconds", "0")
    try:
        stored = stored_exports(restarted.api, metric)
    finally:
        restarted.stop()
    assert all(stored.get(key) == 1000 for key in acknowledged)
