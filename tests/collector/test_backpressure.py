"""A full write queue answers 503 / UNAVAILABLE; nothing is half-stored and retries lose nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc.status_pb2 import Status

from trellis.collector.store import QueueFull, Store
from trellis.testing import (
    PROTOBUF_HEADERS,
    RunningCollector,
    count_rows,
    gauge_batch,
    metrics_export,
    start_collector,
    stored_exports,
)

CLIENTS = 6
EXPORTS_EACH = 5
POINTS = 600
"""With a queue of 1000 points, a second 600-point export waiting beside one in flight is refused."""
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


@pytest.fixture(scope="module")
def small_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    db = tmp_path_factory.mktemp("backpressure") / "trellis.duckdb"
    running = start_collector(db, "--max-queue-points", "1000", "--retry-after-seconds", "2")
    yield running
    running.stop()


def test_store_submit_raises_queue_full_while_the_queue_holds_too_many_points(tmp_path: Path) -> None:
    store = Store(tmp_path / "queue.duckdb", max_queue_points=1_000)
    try:
        refused = gauge_batch(1, 10, metric="refused")
        # An export larger than the whole limit still goes in when the queue is empty...
        big = store.submit(gauge_batch(0, 200_000, metric="big"))
        # ...and while it waits, the next one is refused.
        with pytest.raises(QueueFull, match="the write queue holds 200000 points"):
            store.submit(refused)
        big.result(60)
        assert store.queued_points == 0
        store.write(gauge_batch(2, 10, metric="later"), timeout=30)
        cursor = store.cursor()
        assert count_rows(cursor, "big") == 200_000
        assert count_rows(cursor, "refused") == 0
        assert count_rows(cursor, "later") == 10
    finally:
        store.close()


def test_http_answers_503_with_retry_after_and_retries_lose_nothing(small_queue: RunningCollector) -> None:
    metric = "backpressure.http"
    bodies = {
        (c, e): metrics_export(metric, c * 1_000 + e, POINTS) for c in range(CLIENTS) for e in range(EXPORTS_EACH)
    }
    acknowledged: set[int] = set()
    busy: list[httpx.Response] = []
    unexpected: list[str] = []

    def client(c: int) -> None:
        with httpx.Client(timeout=30) as http:
            for e in range(EXPORTS_EACH):
                for _attempt in range(1_000):
                    response = http.post(
                        f"{small_queue.otlp_http}/v1/metrics", content=bodies[c, e], headers=PROTOBUF_HEADERS
                    )
                    if response.status_code == 200:
                        acknowledged.add(c * 1_000 + e)
                        break
                    if response.status_code != 503:
                        unexpected.append(f"{response.status_code}: {response.text}")
                        return
                    busy.append(response)
                    time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert not unexpected
    assert busy, "the load should have filled a 1000-point queue"
    for response in busy[:20]:
        assert response.headers["retry-after"] == "2"
        assert response.headers["content-type"].startswith("application/x-protobuf")
        status = Status.FromString(response.content)
        assert status.code == 14  # UNAVAILABLE
        assert "write queue is full" in status.message
    assert len(acknowledged) == CLIENTS * EXPORTS_EACH
    stored = stored_exports(small_queue.api, metric)
    # Every export is stored exactly once: a 503 stored nothing, so retrying it did not duplicate it.
    assert stored == dict.fromkeys(acknowledged, POINTS)
    stats = httpx.get(f"{small_queue.api}/api/v1/stats").json()
    assert stats["write_queue_points"] == 0


def test_grpc_answers_unavailable_and_retries_lose_nothing(small_queue: RunningCollector) -> None:
    metric = "backpressure.grpc"
    bodies = {
        (c, e): metrics_export(metric, c * 1_000 + e, POINTS) for c in range(CLIENTS) for e in range(EXPORTS_EACH)
    }
    acknowledged: set[int] = set()
    unavailable: list[str] = []
    unexpected: list[str] = []

    with grpc.insecure_channel(small_queue.otlp_grpc) as channel:
        export = channel.unary_unary(METRICS_EXPORT, request_serializer=None, response_deserializer=None)

        def client(c: int) -> None:
            for e in range(EXPORTS_EACH):
                for _attempt in range(1_000):
                    try:
                        export(bodies[c, e], timeout=30)
                    except grpc.RpcError as exc:
                        if exc.code() != grpc.StatusCode.UNAVAILABLE:
                            unexpected.append(f"{exc.code()}: {exc.details()}")
                            return
                        unavailable.append(exc.details() or "")
                        time.sleep(0.02)
                    else:
                        acknowledged.add(c * 1_000 + e)
                        break

        threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

    assert not unexpected
    assert unavailable, "the load should have filled a 1000-point queue"
    assert all("write queue is full" in details for details in unavailable)
    assert len(acknowledged) == CLIENTS * EXPORTS_EACH
    assert stored_exports(small_queue.api, metric) == dict.fromkeys(acknowledged, POINTS)


def test_store_submit_raises_queue_full_while_the_queue_holds_too_many_bytes(tmp_path: Path) -> None:
    """Bounded in bytes as well as points: a few exports with large rows fill it as many small ones would."""
    one = gauge_batch(0, 200_000, metric="heavy")  # large: the writer is still at it when the next one comes
    store = Store(tmp_path / "bytes.duckdb", max_queue_points=10_000_000, max_queue_bytes=one.nbytes)
    try:
        first = store.submit(one)
        assert store.is_full()
        with pytest.raises(QueueFull, match=r"the write queue holds \d+ bytes"):
            store.submit(gauge_batch(1, 10, metric="heavy"))
        first.result(60)
        assert store.queued_bytes == 0 and not store.is_full()
    finally:
        store.close()
