"""Large exports decode in worker processes; small ones, and a collector told not to, in the collector's own.

Protobuf metrics go to a worker only while the collector's compiled decoder is not ready (``otlp_wire``):
the tests of the workers turn it off (``--no-wire-decoder``)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import grpc
import httpx

from trellis.collector.decode_pool import PROCESS_BYTES, PROCESS_MAX_BYTES
from trellis.testing import PROTOBUF_HEADERS, RunningCollector, metrics_export, stored_exports, unique

METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


def large_export(metric: str, first_key: int, parts: int = 6) -> bytes:
    """Several exports in one body (protobuf concatenation merges their resources): parts x 1,000 points."""
    body = b"".join(metrics_export(metric, first_key + k, 1000) for k in range(parts))
    assert len(body) >= PROCESS_BYTES
    return body


def send(collector: RunningCollector, body: bytes) -> httpx.Response:
    return httpx.post(f"{collector.otlp_http}/v1/metrics", content=body, headers=PROTOBUF_HEADERS, timeout=60)


def children(pid: int) -> list[int]:
    """The collector's decoding processes (multiprocessing also starts a resource tracker, left out)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):  # it ended meanwhile
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
    return found


def wait_for(condition: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_large_export_is_decoded_in_a_worker_and_stored_whole(make_collector: Any) -> None:
    running = make_collector("--no-wire-decoder")
    metric = unique("pool.large")
    small = metrics_export(metric, 100, 10)
    assert send(running, small).status_code == 200
    assert children(running.process.pid) == []  # small bodies never start a worker

    assert send(running, large_export(metric, 1)).status_code == 200

    assert children(running.process.pid)  # the pool started
    assert stored_exports(running.api, metric) == {100: 10, **{k: 1000 for k in range(1, 7)}}


def test_a_worker_that_dies_is_replaced_and_nothing_acknowledged_is_lost(make_collector: Any) -> None:
    running = make_collector("--decode-processes", "1", "--no-wire-decoder")
    metric = unique("pool.killed")
    assert send(running, large_export(metric, 1)).status_code == 200
    [worker] = wait_for(lambda: children(running.process.pid))
    os.kill(worker, signal.SIGKILL)

    answers = [send(running, large_export(metric, 10 + 10 * i)).status_code for i in range(3)]

    assert answers == [200, 200, 200]
    stored = stored_exports(running.api, metric)
    assert stored == {k: 1000 for k in [*range(1, 7), *(10 + 10 * i + k for i in range(3) for k in range(6))]}
    assert worker not in children(running.process.pid)


def test_a_large_body_that_is_no_export_is_refused_by_the_worker_in_one_line(make_collector: Any) -> None:
    running = make_collector()
    response = send(running, b"\xff" * PROCESS_BYTES)
    assert response.status_code == 400
    assert "not a valid OTLP protobuf metrics export" in response.text


def test_workers_end_with_a_collector_that_is_killed(make_collector: Any) -> None:
    running = make_collector("--no-wire-decoder")
    assert send(running, large_export(unique("pool.orphans"), 1)).status_code == 200
    workers = wait_for(lambda: children(running.process.pid))
    running.process.kill()
    running.process.wait(10)

    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers))


def test_a_huge_export_decodes_in_the_collector_so_no_worker_grows_to_its_size(make_collector: Any) -> None:
    running = make_collector()
    metric = unique("pool.huge")
    body = b"".join(metrics_export(metric, k, 1000) for k in range(1, PROCESS_MAX_BYTES // 30_000 + 2))
    assert len(body) > PROCESS_MAX_BYTES
    assert send(running, body).status_code == 200
    assert children(running.process.pid) == []
    assert len(stored_exports(running.api, metric)) == PROCESS_MAX_BYTES // 30_000 + 1


def test_decode_processes_0_decodes_everything_in_the_collector(make_collector: Any) -> None:
    running = make_collector("--decode-processes", "0")
    metric = unique("pool.off")
    assert send(running, large_export(metric, 1)).status_code == 200
    assert children(running.process.pid) == []
    assert stored_exports(running.api, metric) == {k: 1000 for k in range(1, 7)}


def test_a_large_grpc_export_is_decoded_in_a_worker_too(make_collector: Any) -> None:
    running = make_collector("--no-wire-decoder")
    metric = unique("pool.grpc")
    with grpc.insecure_channel(running.otlp_grpc) as channel:
        call = channel.unary_unary(METRICS_EXPORT, request_serializer=None, response_deserializer=None)
        call(large_export(metric, 1), timeout=60)
    assert children(running.process.pid)
    assert stored_exports(running.api, metric) == {k: 1000 for k in range(1, 7)}


def test_large_protobuf_metrics_decode_in_the_collector_once_its_compiled_decoder_is_ready(make_collector: Any) -> None:
    running = make_collector()
    wait_for(lambda: "compiled OTLP metrics decoder is ready" in running.log(), timeout=240)
    metric = unique("pool.wire")
    assert send(running, large_export(metric, 1)).status_code == 200
    assert children(running.process.pid) == []
    assert stored_exports(running.api, metric) == {k: 1000 for k in range(1, 7)}
