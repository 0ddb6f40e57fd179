"""Ingest benchmark: how many acknowledged points per second the collector sustains.

It starts ``trellis serve`` on free ports with a fresh DuckDB file in a temp
dir, then client *processes* push pre-encoded OTLP exports at it for a fixed
time. Only points the collector acknowledged with success count. At the end it
checks through ``/api/v1/query`` that at least that many rows are stored, and
reports the collector's peak resident memory.

    .venv/bin/python benchmarks/ingest.py                       # OTLP/HTTP protobuf metrics
    .venv/bin/python benchmarks/ingest.py --mode http-json
    .venv/bin/python benchmarks/ingest.py --mode grpc
    .venv/bin/python benchmarks/ingest.py --mode logs           # OTLP/HTTP protobuf logs
    .venv/bin/python benchmarks/ingest.py --overload            # more clients than cores, as fast as possible
    .venv/bin/python benchmarks/ingest.py --containers --backfill-hours 12 --seconds 120   # rollups at work

Exit status: 0 when nothing acknowledged was lost (and, with ``--overload``,
the collector stayed under ``--rss-limit-mib``), 1 otherwise, 2 when the
collector could not be started.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trellis.testing.collector import RunningCollector
from trellis.testing.collector import start_collector as start

MODES = ("http-protobuf", "http-json", "grpc", "logs")
ROOT = Path(__file__).resolve().parents[1]

# Counters each client keeps in shared memory, read by the main process for progress.
ACKED, REQUESTS, RETRIES, ERRORS, CPU_US = range(5)
N_COUNTERS = 5

# ---------------------------------------------------------------------------
# Realistic export requests
# ---------------------------------------------------------------------------

_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
_ROUTES = [
    f"/api/v1/{r}"
    for r in (
        "orders",
        "orders/{id}",
        "users",
        "users/{id}",
        "cart",
        "checkout",
        "search",
        "products",
        "products/{id}",
        "health",
    )
]
_REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2"]


def _kv(key: str, value: Any) -> Any:
    """The simulator's ``key_value``, imported when first needed (``main`` puts the project on the path)."""
    from trellis.simulator.otlp import key_value

    return key_value(key, value)


def resource_attributes(client: int, index: int) -> list[Any]:
    """About ten resource attributes, as a Kubernetes workload in a cloud reports them."""
    service = f"svc-{index % 25:02d}"
    pod = f"{service}-{client}{index:03d}-7f9c{index % 7}"
    return [
        _kv("service.name", service),
        _kv("service.namespace", f"team-{index % 5}"),
        _kv("service.version", f"1.{index % 4}.{client}"),
        _kv("service.instance.id", f"{pod}-{client}"),
        _kv("deployment.environment.name", "production" if index % 3 else "staging"),
        _kv("k8s.namespace.name", f"ns-{index % 5}"),
        _kv("k8s.pod.name", pod),
        _kv("k8s.container.name", service),
        _kv("host.name", f"node-{client}-{index % 12:02d}.cluster.internal"),
        _kv("cloud.provider", "aws"),
        _kv("cloud.region", _REGIONS[index % len(_REGIONS)]),
    ]


def point_attributes() -> list[list[Any]]:
    """The 50 attribute sets (method x route) a metric's points carry, 3 attributes each."""
    return [
        [_kv("http.request.method", m), _kv("http.route", route), _kv("http.response.status_code", 200 + i % 3)]
        for i, (m, route) in enumerate((m, route) for m in _METHODS for route in _ROUTES)
    ]


RECEIVER_METRICS = [
    (f"k8s.{kind}.{name}", unit, "sum" if name.endswith(("time", "bytes_total", "errors")) else "gauge")
    for kind in ("pod", "container")
    for name, unit in (
        ("cpu.time", "s"), ("cpu.usage", "{cpu}"), ("cpu.utilization", "1"), ("memory.usage", "By"),
        ("memory.working_set", "By"), ("memory.rss", "By"), ("memory.page_faults", "{fault}"),
        ("network.io.bytes_total", "By"), ("network.errors", "{error}"), ("filesystem.usage", "By"),
    )
]  # fmt: skip
"""Twenty metrics per resource, as the OpenTelemetry Collector's kubeletstats and hostmetrics receivers
send them: many metrics of a few points each."""


def receiver_request(client: int, seq: int, points: int, per_metric: int, at: int = 0) -> Any:
    """One export shaped like a receiver's: resources of 20 metrics with ``per_metric`` points each (one
    point per attribute set, such as a CPU state or a network direction), ``points`` points in all."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

    rnd = random.Random(client * 1_000_003 + seq)
    attr_sets = point_attributes()
    start = 1_700_000_000_000_000_000 + client * 1_000_000
    now = at or start + (seq + 1) * 10_000_000_000 + rnd.randrange(1_000_000)
    request = ExportMetricsServiceRequest()
    left, r = points, 0
    while left > 0:
        rm = request.resource_metrics.add()
        rm.resource.attributes.extend(resource_attributes(client, r))
        sm = rm.scope_metrics.add()
        sm.scope.name, sm.scope.version = "otelcol/kubeletstatsreceiver", "0.115.0"
        for name, unit, kind in RECEIVER_METRICS:
            if left <= 0:
                break
            metric = sm.metrics.add(name=name, unit=unit, description=f"{name} of the pod or container")
            data: Any = metric.gauge if kind == "gauge" else metric.sum
            if kind == "sum":
                data.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
                data.is_monotonic = True
            for i in range(min(per_metric, left)):
                p = data.data_points.add(time_unix_nano=now)
                if per_metric > 1:
                    p.attributes.extend(attr_sets[i % len(attr_sets)][:1])
                if kind == "sum":
                    p.start_time_unix_nano = start
                    p.as_int = (seq + 1) * 1000 + rnd.randrange(1000)
                else:
                    p.as_double = rnd.random()
            left -= min(per_metric, left)
        r += 1
    return request


def metrics_request(client: int, seq: int, resources: int, points: int, at: int = 0) -> Any:
    """One export of ``points`` points over ``resources`` resources: two gauges and two cumulative sums each."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

    rnd = random.Random(client * 1_000_003 + seq)
    attr_sets = point_attributes()
    start = 1_700_000_000_000_000_000 + client * 1_000_000
    now = at or start + (seq + 1) * 10_000_000_000 + rnd.randrange(1_000_000)
    per_resource = points // resources
    per_metric = [per_resource // 4 + (1 if i < per_resource % 4 else 0) for i in range(4)]
    request = ExportMetricsServiceRequest()
    for r in range(resources):
        rm = request.resource_metrics.add()
        rm.resource.attributes.extend(resource_attributes(client, r))
        sm = rm.scope_metrics.add()
        sm.scope.name, sm.scope.version = "io.opentelemetry.http", "1.27.0"
        extra = 1 if r < points % resources else 0  # spread a remainder so the total is exact
        for k, (name, unit, kind) in enumerate(
            [
                ("http.server.active_requests", "{request}", "gauge"),
                ("process.cpu.utilization", "1", "gauge"),
                ("http.server.request.count", "{request}", "sum"),
                ("http.server.request.body.size", "By", "sum"),
            ]
        ):
            metric = sm.metrics.add(name=name, unit=unit, description=f"{name} of the service")
            data: Any = metric.gauge if kind == "gauge" else metric.sum
            if kind == "sum":
                data.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
                data.is_monotonic = True
            for i in range(per_metric[k] + (extra if k == 0 else 0)):
                p = data.data_points.add(time_unix_nano=now)
                p.attributes.extend(attr_sets[i % len(attr_sets)])
                if kind == "sum":
                    p.start_time_unix_nano = start
                    p.as_int = (seq + 1) * 1000 + rnd.randrange(1000)
                elif k == 1:
                    p.as_double = rnd.random()
                else:
                    p.as_int = rnd.randrange(200)
    return request


CONTAINER_METRICS = [
    ("container.cpu.time", "s", "sum"),
    ("container.memory.working_set", "By", "gauge"),
    ("k8s.container.cpu_request", "{cpu}", "gauge"),
    ("k8s.container.memory_request", "By", "gauge"),
]
"""The container metrics the usage rollups read (``trellis.analytics.metrics``): CPU and memory, used and requested."""


def container_request(client: int, seq: int, points: int, at: int) -> Any:
    """One scrape of a node's containers at ``at`` (ns): CONTAINER_METRICS for each container, ``points``
    points in all. Every point of the export is one the rollups read: the most they can cost."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

    rnd = random.Random(client * 1_000_003 + seq)
    start = 1_700_000_000_000_000_000 + client * 1_000_000
    request = ExportMetricsServiceRequest()
    for r in range(-(-points // len(CONTAINER_METRICS))):
        rm = request.resource_metrics.add()
        rm.resource.attributes.extend(resource_attributes(client, r))
        sm = rm.scope_metrics.add()
        sm.scope.name, sm.scope.version = "otelcol/kubeletstatsreceiver", "0.115.0"
        for name, unit, kind in CONTAINER_METRICS[: points - r * len(CONTAINER_METRICS)]:
            metric = sm.metrics.add(name=name, unit=unit, description=f"{name} of the container")
            data: Any = metric.gauge if kind == "gauge" else metric.sum
            p = data.data_points.add(time_unix_nano=at)
            if kind == "sum":
                data.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
                data.is_monotonic = True
                p.start_time_unix_nano = start
                p.as_double = (seq + 1) * 30.0 + rnd.random()
            elif "memory" in name:
                p.as_int = rnd.randrange(100, 900) << 20
            else:
                p.as_double = 0.25 * (1 + r % 4)
    return request


SCRAPE_AT = 1_712_345_678_901_234_567
"""The time every point of a ``--backfill-hours`` export is encoded with; each send replaces it with the
export's own time (the same eight bytes in protobuf, the same nineteen digits in JSON)."""


def timed(body: bytes, at: int, json_body: bool) -> bytes:
    """The export with SCRAPE_AT replaced by ``at`` (ns)."""
    if json_body:
        return body.replace(b'"%d"' % SCRAPE_AT, b'"%d"' % at)
    return body.replace(SCRAPE_AT.to_bytes(8, "little"), at.to_bytes(8, "little"))


def logs_request(client: int, seq: int, resources: int, records: int) -> Any:
    """One export of ``records`` log records over ``resources`` resources."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    rnd = random.Random(client * 1_000_003 + seq)
    now = 1_700_000_000_000_000_000 + client * 1_000_000 + seq * 10_000_000_000
    request = ExportLogsServiceRequest()
    severities = [(9, "INFO"), (9, "INFO"), (9, "INFO"), (13, "WARN"), (17, "ERROR")]
    for r in range(resources):
        rl = request.resource_logs.add()
        rl.resource.attributes.extend(resource_attributes(client, r))
        sl = rl.scope_logs.add()
        sl.scope.name = "io.opentelemetry.http"
        for i in range(records // resources + (1 if r < records % resources else 0)):
            number, text = severities[i % len(severities)]
            method, route = _METHODS[i % 5], _ROUTES[i % 10]
            rec = sl.log_records.add(
                time_unix_nano=now + i * 1000,
                observed_time_unix_nano=now + i * 1000 + 500,
                severity_number=number,
                severity_text=text,
                trace_id=rnd.randbytes(16),
                span_id=rnd.randbytes(8),
                flags=1,
            )
            rec.body.string_value = f"{method} {route} answered in {rnd.randrange(1, 900)} ms"
            rec.attributes.extend(
                [_kv("http.request.method", method), _kv("http.route", route), _kv("code.function", "handle")]
            )
    return request


PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class Target:
    """Where and how one mode sends its exports."""

    signal: str
    transport: str  # "http" or "grpc"
    content_type: str = PROTOBUF

    @property
    def path(self) -> str:
        return f"/v1/{self.signal}"


TARGETS = {
    "http-protobuf": Target("metrics", "http"),
    "http-json": Target("metrics", "http", "application/json"),
    "grpc": Target("metrics", "grpc"),
    "logs": Target("logs", "http"),
}


def encode_pool(
    mode: str,
    client: int,
    size: int,
    resources: int,
    points: int,
    points_per_metric: int = 0,
    containers: bool = False,
    backfill: bool = False,
) -> list[bytes]:
    """Encode ``size`` distinct exports (different timestamps and values) before the clock starts; for a
    ``backfill``, with SCRAPE_AT as every point's time (each send gives it the export's own)."""
    at = SCRAPE_AT if backfill else 0
    from google.protobuf import json_format

    pool = []
    for seq in range(size):
        if containers:
            message = container_request(client, seq, points, SCRAPE_AT)
        elif TARGETS[mode].signal == "logs":
            message = logs_request(client, seq, resources, points)
        elif points_per_metric:
            message = receiver_request(client, seq, points, points_per_metric, at)
        else:
            message = metrics_request(client, seq, resources, points, at)
        if TARGETS[mode].content_type == "application/json":
            # OTLP JSON: camelCase names, 64-bit integers as strings, enums as integers.
            as_dict = json_format.MessageToDict(message, use_integers_for_enums=True)
            pool.append(json.dumps(as_dict, separators=(",", ":")).encode())
        else:
            pool.append(message.SerializeToString())
    return pool


# ---------------------------------------------------------------------------
# Client processes
# ---------------------------------------------------------------------------


class Retry(Exception):
    """The collector asked to come back later (503/429/UNAVAILABLE)."""

    def __init__(self, after: float) -> None:
        super().__init__(after)
        self.after = after


class HttpSender:
    """One keep-alive HTTP/1.1 connection, reopened after a failure."""

    def __init__(self, port: int, target: Target) -> None:
        self.port, self.target = port, target
        self.conn: http.client.HTTPConnection | None = None

    def send(self, body: bytes) -> int:
        """Send one export; returns how many items the collector reported rejected."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            self.conn.request("POST", self.target.path, body, {"Content-Type": self.target.content_type})
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if response.status in (429, 503):
            raise Retry(float(response.getheader("Retry-After") or 1))
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
        return rejected_count(self.target, data)


class GrpcSender:
    """A gRPC channel sending pre-serialized request bytes."""

    def __init__(self, port: int, target: Target) -> None:
        import grpc

        self.grpc = grpc
        self.target = target
        limit = 256 * 1024 * 1024
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)],
        )
        service = {"metrics": "metrics.v1.MetricsService", "logs": "logs.v1.LogsService"}[target.signal]
        self.call = self.channel.unary_unary(
            f"/opentelemetry.proto.collector.{service}/Export", request_serializer=None, response_deserializer=None
        )

    def send(self, body: bytes) -> int:
        try:
            data = self.call(body, timeout=120)
        except self.grpc.RpcError as exc:
            code = exc.code()
            if code in (self.grpc.StatusCode.UNAVAILABLE, self.grpc.StatusCode.RESOURCE_EXHAUSTED):
                raise Retry(1.0) from None  # what OTLP exporters do: back off, then retry
            raise RuntimeError(f"gRPC {code.name}: {exc.details()}") from None
        return rejected_count(self.target, data)


def rejected_count(target: Target, data: bytes) -> int:
    """The partial_success count of an Export*ServiceResponse (protobuf or JSON)."""
    if not data:
        return 0
    if target.content_type == "application/json":
        partial = json.loads(data).get("partialSuccess") or {}
        return int(partial.get("rejectedDataPoints") or partial.get("rejectedLogRecords") or 0)
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

    if target.signal == "logs":
        return int(ExportLogsServiceResponse.FromString(data).partial_success.rejected_log_records)
    return int(ExportMetricsServiceResponse.FromString(data).partial_success.rejected_data_points)


@dataclass
class ClientPlan:
    index: int
    mode: str
    ports: dict[str, int]
    pool_size: int
    resources: int
    points: int
    inflight: int
    churn: bool = False
    points_per_metric: int = 0
    containers: bool = False
    first_scrape_ns: int = 0
    """With ``--backfill-hours``: the clock's time when sending starts; 0 sends the pool's own times."""
    speed: float = 0.0
    """How many times faster than real time that clock runs."""
    run_seconds: float = 0.0
    """Warm-up and measured time: sending started this long before the deadline."""


CHURN_TAG = b"-7f9c"
"""The part of every pod name (and instance id) that ``--churn`` replaces per request: new pods each time."""


def churned(body: bytes, generation: int) -> bytes:
    """The export with its pods renamed for ``generation``: same length, so the protobuf stays valid."""
    return body.replace(CHURN_TAG, b"-%04x" % (generation & 0xFFFF))


def client_main(plan: ClientPlan, counters: Any, ready: Any, go: Any, deadline: Any) -> None:
    """A client process: encode its pool, wait for the start, send until the deadline."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop
    pool = encode_pool(
        plan.mode,
        plan.index,
        plan.pool_size,
        plan.resources,
        plan.points,
        plan.points_per_metric,
        plan.containers,
        bool(plan.first_scrape_ns),
    )
    ready.wait()
    go.wait()
    base = plan.index * N_COUNTERS
    lock = threading.Lock()
    threads = [
        threading.Thread(target=_send_loop, args=(plan, pool, t, counters, base, lock, deadline.value))
        for t in range(plan.inflight)
    ]
    cpu = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counters[base + CPU_US] = int((time.process_time() - cpu) * 1e6)


def _send_loop(
    plan: ClientPlan, pool: list[bytes], offset: int, counters: Any, base: int, lock: Any, deadline: float
) -> None:
    target = TARGETS[plan.mode]
    port = plan.ports["grpc" if target.transport == "grpc" else "http"]
    sender = GrpcSender(port, target) if target.transport == "grpc" else HttpSender(port, target)
    i = offset
    while time.time() < deadline:
        sent = i - offset  # requests this thread has sent; threads take turns in the generations
        generation = sent * plan.inflight + offset
        body = churned(pool[i % len(pool)], generation) if plan.churn else pool[i % len(pool)]
        if plan.first_scrape_ns:  # the time of the clock every client shares, as a live stream's points have
            at = plan.first_scrape_ns + int((time.time() - deadline + plan.run_seconds) * plan.speed * 1e9)
            body = timed(body, at, target.content_type != PROTOBUF)
        try:
            rejected = sender.send(body)
        except Retry as exc:
            _bump(counters, base + RETRIES, 1, lock)
            time.sleep(min(exc.after, max(0.0, deadline - time.time())))
            continue  # the same export again, as an exporter would
        except Exception as exc:
            _bump(counters, base + ERRORS, 1, lock)
            print(f"client {plan.index}: {exc}", file=sys.stderr, flush=True)
            time.sleep(0.5)
            continue
        _bump(counters, base + ACKED, plan.points - rejected, lock)
        _bump(counters, base + REQUESTS, 1, lock)
        i += 1


def _bump(counters: Any, slot: int, n: int, lock: Any) -> None:
    with lock:  # threads of one client share its slots; other processes only read them
        counters[slot] += n


# ---------------------------------------------------------------------------
# The collector under test
# ---------------------------------------------------------------------------


def start_collector(workdir: Path, extra: list[str], timeout: float = 60) -> RunningCollector:
    """``trellis serve`` on ``workdir/bench.duckdb`` and free ports, its log beside the database."""
    return start(workdir / "bench.duckdb", "--log-level", "warning", *extra, cwd=workdir, timeout=timeout)


def ports(collector: RunningCollector) -> dict[str, int]:
    return {"grpc": collector.grpc_port, "http": collector.http_port, "api": collector.api_port}


def api_call(collector: RunningCollector, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
    """One API call over a plain connection: the benchmark's own reads stay cheap beside the load."""
    conn = http.client.HTTPConnection("127.0.0.1", collector.api_port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, data, {"Content-Type": "application/json"} if data else {})
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: HTTP {response.status}: {payload[:300]!r}")
    return json.loads(payload)


# ---------------------------------------------------------------------------
# Memory and CPU of the collector (and any worker processes it starts)
# ---------------------------------------------------------------------------


def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants alive now."""
    ticks = 0
    for p in _process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class MemorySampler:
    """Samples the collector's VmRSS (its whole process tree) every ``interval`` seconds."""

    pid: int
    interval: float = 0.2
    peak_rss_kib: int = 0
    peak_hwm_kib: int = 0
    last_rss_kib: int = 0
    peak_at: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self) -> None:
        tree = _process_tree(self.pid)
        self.last_rss_kib = sum(_status_kib(p, "VmRSS") for p in tree)
        if self.last_rss_kib > self.peak_rss_kib:
            self.peak_rss_kib, self.peak_at = self.last_rss_kib, time.time()
        # VmHWM is each process's own kernel-kept peak; summed it bounds the tree's peak from above.
        self.peak_hwm_kib = max(self.peak_hwm_kib, sum(_status_kib(p, "VmHWM") for p in tree))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

STORED_TABLES = {"metrics": ["otel_metrics_gauge", "otel_metrics_sum"], "logs": ["otel_logs"]}


def stored_rows(collector: RunningCollector, signal_name: str) -> int:
    parts = " + ".join(f"(SELECT count(*) FROM {t})" for t in STORED_TABLES[signal_name])
    answer = api_call(collector, "POST", "/api/v1/query", {"sql": f"SELECT {parts} AS n"})
    return int(answer["rows"][0][0])


def _totals(counters: Any, clients: int) -> list[int]:
    return [sum(counters[c * N_COUNTERS + k] for c in range(clients)) for k in range(N_COUNTERS)]


def _mib(kib: int) -> float:
    return kib / 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cores = os.cpu_count() or 2
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mode", choices=MODES, default="http-protobuf", help="what to send (default: http-protobuf)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured sending time (default: 20)")
    p.add_argument("--warmup", type=float, default=3.0, help="sending time before the measurement starts (default: 3)")
    p.add_argument(
        "--clients",
        type=int,
        default=None,
        help=f"client processes (default: 4; with --overload {4 * cores}, 4 x cores)",
    )
    p.add_argument(
        "--inflight",
        type=int,
        default=None,
        help="requests each client keeps in flight, like an OTel Collector's exporter with\n"
        "sending_queue.num_consumers (default: 10, that setting's default; with --overload 32,\n"
        "so that more points are in flight than the collector's write queue holds)",
    )
    p.add_argument("--points", type=int, default=10_000, help="points (or log records) per request (default: 10000)")
    p.add_argument("--resources", type=int, default=50, help="resources per request (default: 50)")
    p.add_argument(
        "--points-per-metric",
        type=int,
        default=0,
        help="send exports shaped like the OpenTelemetry Collector's receivers (kubeletstats, hostmetrics):\n"
        "20 metrics per resource with this many points each, --points in all (--resources is ignored);\n"
        "0 (the default) sends 4 metrics per resource with the points spread over them",
    )
    p.add_argument(
        "--containers",
        action="store_true",
        help="send only the container metrics the usage rollups read (CPU time, memory working set, CPU and\n"
        "memory requests), one point each per container: the stream the rollups cost most on",
    )
    p.add_argument(
        "--backfill-hours",
        type=float,
        default=0.0,
        help="send the exports as a live stream would, on a clock that starts this many hours ago and runs\n"
        "--speed times faster than real time, the same for every client: hours close while the benchmark\n"
        "runs and the collector rolls them up (compare with --collector-arg=--rollup-interval-seconds=0);\n"
        "0 (the default) sends fixed times",
    )
    p.add_argument(
        "--settle-seconds",
        type=float,
        default=300.0,
        help="with --backfill-hours: how long to wait after the last export for the collector to roll up\n"
        "every hour sent (with rollups) and go idle (default: 300)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=180.0,
        help="with --backfill-hours: how many times faster than real time the clock runs (default: 180, an\n"
        "hour in 20 s: at about six exports a second, a client's containers are scraped every 30 s)",
    )
    p.add_argument("--pool", type=int, default=6, help="distinct pre-encoded requests per client (default: 6)")
    p.add_argument(
        "--overload",
        action="store_true",
        help="push far more than the collector can take; checks memory stays bounded and nothing is lost",
    )
    p.add_argument(
        "--rss-limit-mib", type=float, default=1024.0, help="peak RSS allowed with --overload (default: 1024)"
    )
    p.add_argument(
        "--churn",
        action="store_true",
        help="every request brings new pods (new resources and series), as a churning cluster does,\n"
        "much accelerated: checks that memory levels off",
    )
    p.add_argument(
        "--readers",
        type=int,
        default=0,
        help="threads sending small dashboard-like queries through /api/v1/query while ingest runs, each about\n"
        "ten a second; the report gives their p50/p95/p99 latency (default: 0)",
    )
    p.add_argument(
        "--heavy-readers",
        type=int,
        default=0,
        help="threads sending queries whose answers would be a gigabyte each (HEAVY_QUERIES) while ingest\n"
        "runs: the answers must be cut at --query-byte-limit and memory stay bounded (default: 0)",
    )
    p.add_argument("--progress", type=float, default=2.0, help="seconds between progress lines (default: 2)")
    p.add_argument(
        "--workdir", type=Path, default=None, help="where the temp dir goes, made if missing (default: the system's)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (database and collector log)")
    p.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON to this file")
    p.add_argument(
        "--collector-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for `trellis serve` (repeatable), e.g. --collector-arg=--max-queue-points=500000",
    )
    args = p.parse_args(argv)
    if args.clients is None:
        args.clients = 4 * cores if args.overload else 4
    if args.inflight is None:
        args.inflight = 32 if args.overload else 10
    if args.backfill_hours and TARGETS[args.mode].signal != "metrics":
        p.error("--backfill-hours sends metrics")
    if args.points < args.resources or args.clients < 1 or args.inflight < 1 or args.seconds <= 0:
        p.error("need --points >= --resources, --clients >= 1, --inflight >= 1 and --seconds > 0")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    target = TARGETS[args.mode]
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="trellis-bench-", dir=args.workdir))
    print(
        f"mode {args.mode}{' (overload)' if args.overload else ''}: {args.clients} clients x {args.inflight} "
        f"in flight, {args.points:,} {'records' if target.signal == 'logs' else 'points'}/request, "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s measured; workdir {workdir}",
        flush=True,
    )
    try:
        collector = start_collector(workdir, args.collector_arg)
    except RuntimeError as exc:
        print(f"cannot start the collector: {exc}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        raise SystemExit(2) from None
    try:
        return _measure(args, target, collector, workdir)
    finally:
        collector.stop(timeout=120)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def first_scrape_ns(hours: float) -> int:
    """The clock's time when sending starts, ``hours`` ago, on the hour (0: no backfill)."""
    if not hours:
        return 0
    return int((time.time() - hours * 3600) // 3600 * 3600) * 1_000_000_000


def rolled_up(collector: RunningCollector) -> dict[str, Any]:
    """What the collector's rollups hold: hours, and the samples in them."""
    answer = api_call(
        collector,
        "POST",
        "/api/v1/query",
        {"sql": "SELECT (SELECT count(*) FROM rollup_usage_hours), (SELECT sum(samples) FROM rollup_usage_hourly)"},
    )
    hours, samples = answer["rows"][0]
    return {"hours": int(hours or 0), "samples": int(samples or 0)}


CAUGHT_UP = """SELECT coalesce((SELECT max(hour) FROM rollup_usage_hours) >= (
    SELECT date_trunc('hour', max(t)) FROM (
        SELECT max(time) AS t FROM otel_metrics_gauge_rows
        UNION ALL SELECT max(time) FROM otel_metrics_sum_rows)), false)"""
"""Whether the rollups have rolled up the hour of the newest point (from the stored rows: the views join every
row with its resource, which costs the collector more CPU than the question is worth)."""
IDLE_SECONDS = 10.0
"""How long the collector's CPU is measured once idle, to take what it spends idle while waiting out."""
SETTLE_POLL = 3.0
IDLE_CORE = 0.05
"""The collector is idle when it spends less than this share of a core over SETTLE_POLL seconds."""


def rollups_off(args: argparse.Namespace) -> bool:
    """Whether the collector runs without rollups (``--rollup-interval-seconds=0``)."""
    extra = " ".join(args.collector_arg).replace("=", " ").split()
    return any(a == "--rollup-interval-seconds" and float(v) == 0 for a, v in itertools.pairwise(extra))


def settle(collector: RunningCollector, cpu0: float, points: int, limit: float, rollups: bool) -> dict[str, Any]:
    """Wait (up to ``limit`` seconds) until the collector has done all its work for the points sent: with
    ``rollups``, every hour of the backfill rolled up; and then idle (its checkpoint of the last commits
    written, say). How long that took after the last export, and the collector's CPU per point from the
    start, all that work included, less what it spends idle while waiting (measured after)."""
    pid = collector.process.pid
    started, before = time.time(), _cpu_seconds(pid)
    done = False
    while not done and time.time() - started < limit:
        time.sleep(SETTLE_POLL)
        now = _cpu_seconds(pid)
        quiet, before = (now - before) / SETTLE_POLL < IDLE_CORE, now
        done = quiet and (
            not rollups or bool(api_call(collector, "POST", "/api/v1/query", {"sql": CAUGHT_UP})["rows"][0][0])
        )
    waited, cpu = time.time() - started, _cpu_seconds(pid) - cpu0
    time.sleep(IDLE_SECONDS)
    idle = (_cpu_seconds(pid) - cpu0 - cpu) / IDLE_SECONDS
    return {
        "settled": done,
        "settled_after_s": round(waited, 1),
        "idle_cpu_percent": round(100 * idle, 1),
        "collector_cpu_us_per_point": round((cpu - idle * waited) * 1e6 / max(points, 1), 2),
    }


def _measure(args: argparse.Namespace, target: Target, collector: RunningCollector, workdir: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")  # clean children: no inherited threads or sockets
    counters = ctx.Array("q", args.clients * N_COUNTERS, lock=False)
    ready, go = ctx.Barrier(args.clients + 1), ctx.Event()
    deadline = ctx.Value("d", 0.0, lock=False)
    clients = [
        ctx.Process(
            target=client_main,
            args=(
                ClientPlan(
                    i,
                    args.mode,
                    ports(collector),
                    args.pool,
                    args.resources,
                    args.points,
                    args.inflight,
                    args.churn,
                    args.points_per_metric,
                    args.containers,
                    first_scrape_ns(args.backfill_hours),
                    args.speed,
                    args.warmup + args.seconds,
                ),
                counters,
                ready,
                go,
                deadline,
            ),
            daemon=True,
        )
        for i in range(args.clients)
    ]
    t_encode = time.monotonic()
    for c in clients:
        c.start()
    ready.wait(timeout=600)  # every client has its pool encoded
    print(f"encoded {args.clients} x {args.pool} requests in {time.monotonic() - t_encode:.1f} s; sending", flush=True)

    sampler = MemorySampler(collector.process.pid)
    sampler.start()
    reads = ReadLoad(collector, args.readers)
    reads.start()
    heavy = ReadLoad(collector, args.heavy_readers, HEAVY_QUERIES)
    heavy.start()
    cpu0 = _cpu_seconds(collector.process.pid)
    t0 = time.time()
    deadline.value = t0 + args.warmup + args.seconds
    go.set()
    window_start: tuple[float, int] | None = None
    window_end: tuple[float, int] = (t0, 0)
    last_t, last_acked, cpu_start = t0, 0, cpu0
    while (now := time.time()) < deadline.value:
        # Wake at the end of the warm-up and at the deadline exactly, so the window is --seconds long.
        boundary = t0 + args.warmup if window_start is None and now < t0 + args.warmup else deadline.value
        time.sleep(max(0.0, min(args.progress, boundary - now)))
        now = time.time()
        acked, requests, retries, errors, _ = _totals(counters, args.clients)
        if window_start is None and now - t0 >= args.warmup:
            window_start, cpu_start = (now, acked), _cpu_seconds(collector.process.pid)
            reads.measuring = heavy.measuring = True
        window_end = (now, acked)
        queue = _write_queue(collector)
        print(
            f"[{now - t0:5.1f}s] acked {acked:>12,}  {(acked - last_acked) / (now - last_t):>10,.0f} /s  "
            f"requests {requests:>6,}  retries {retries:>5,}  errors {errors:>3,}  "
            f"rss {_mib(sampler.last_rss_kib):7.1f} MiB  queue {queue}",
            flush=True,
        )
        last_t, last_acked = now, acked
    cpu_end = _cpu_seconds(collector.process.pid)
    cpu_total = cpu_end - cpu0
    reads.measuring = heavy.measuring = False
    reads.stop()
    heavy.stop()

    for c in clients:  # in-flight requests finish (and count) after the deadline
        c.join(timeout=180)
        if c.is_alive():
            c.kill()
    sampler.sample()
    sampler.stop()
    acked, requests, retries, errors, client_cpu_us = _totals(counters, args.clients)
    cpu_total = max(cpu_total, _cpu_seconds(collector.process.pid) - cpu0)
    start = window_start or (t0, 0)
    rate = (window_end[1] - start[1]) / max(window_end[0] - start[0], 1e-9)
    stored = stored_rows(collector, target.signal)
    result = {
        "mode": args.mode,
        "overload": args.overload,
        "clients": args.clients,
        "inflight": args.inflight,
        "points_per_request": args.points,
        "points_per_metric": args.points_per_metric or None,
        "measured_seconds": round(window_end[0] - start[0], 2),
        "points_per_s": round(rate),
        "acked_total": acked,
        "stored_rows": stored,
        "requests": requests,
        "retries": retries,
        "errors": errors,
        "peak_rss_mib": round(_mib(sampler.peak_rss_kib), 1),
        "peak_vmhwm_mib": round(_mib(sampler.peak_hwm_kib), 1),
        "peak_rss_at_s": round(sampler.peak_at - t0, 1),
        "collector_cpu_percent": round(100 * (cpu_end - cpu_start) / max(window_end[0] - start[0], 1e-9)),
        "collector_cpu_us_per_point": round(cpu_total * 1e6 / max(acked, 1), 2),
        "client_cpu_us_per_point": round(client_cpu_us / max(acked, 1), 2),
        "load_average": round(os.getloadavg()[0], 2),
        "lost": max(0, acked - stored),
        "cores": os.cpu_count(),
        "reads": reads.summary(),
        "heavy_reads": heavy.summary(),
    }
    if args.backfill_hours:
        rollups = not rollups_off(args)
        print(f"waiting for the collector to{' roll up every hour sent and' if rollups else ''} go idle", flush=True)
        result["settled"] = settle(collector, cpu0, acked, args.settle_seconds, rollups)
        result["rollups"] = rolled_up(collector)
    return result


READ_QUERIES = [
    "SELECT table_name FROM duckdb_tables() ORDER BY table_name",
    "SELECT * FROM otel_resources LIMIT 20",
    "SELECT count(*) AS deployments FROM deployments",
    "SELECT service_namespace, count(*) AS n FROM deployments GROUP BY ALL ORDER BY n DESC LIMIT 10",
    "SELECT count(*) AS resources FROM otel_resources",
]
"""Small queries like the dashboard's tiles: what a person waits for while ingest runs flat out."""

HEAVY_QUERIES = [
    "SELECT repeat('x', 1000000) AS s FROM range(1000)",
    "SELECT i, repeat('y', 10000) AS s FROM range(1000000) t(i)",
    "SELECT i, repeat('w', 16000) AS s FROM range(400000) t(i)",
]
"""Queries whose answers are far larger than memory should allow (gigabytes of text each): the guard refuses
the first (one vector of it is a gigabyte), the byte limit cuts the other two; ingest goes on, and the
collector stays under 1 GiB."""


class ReadLoad:
    """Readers that send ``queries`` in turn through /api/v1/query and time each answer."""

    def __init__(self, collector: RunningCollector, readers: int, queries: list[str] = READ_QUERIES) -> None:
        self.collector, self.readers, self.queries = collector, readers, queries
        self.latencies: list[float] = []
        self.by_query: dict[str, list[float]] = {}
        self.errors = 0
        self.cut = 0
        """Answers that said they were cut (``truncated``)."""
        self.measuring = False
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(readers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, reader: int) -> None:
        turn = reader
        while not self._stop.is_set():
            sql = self.queries[turn % len(self.queries)]
            turn += 1
            started = time.perf_counter()
            try:
                answer = api_call(self.collector, "POST", "/api/v1/query", {"sql": sql}, timeout=60)
            except (OSError, RuntimeError):
                self.errors += 1
                continue
            if self.measuring:
                self.cut += bool(answer.get("truncated"))
                self.latencies.append(time.perf_counter() - started)
                self.by_query.setdefault(sql, []).append(time.perf_counter() - started)
            self._stop.wait(0.1)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        if not ordered:
            return {"queries": 0, "errors": self.errors, "cut": self.cut}

        def pct(q: float) -> float:
            return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

        return {"queries": len(ordered), "errors": self.errors, "cut": self.cut, "p50_ms": pct(0.5),
                "p95_ms": pct(0.95), "p99_ms": pct(0.99), "max_ms": round(1000 * ordered[-1], 1)}  # fmt: skip


def _write_queue(collector: RunningCollector) -> str:
    """The write queue's points and the memory DuckDB holds, as the collector's stats say."""
    try:
        stats = api_call(collector, "GET", "/api/v1/stats", timeout=5)
        return f"{stats['write_queue_points']:,}  duckdb {stats['duckdb_memory_bytes'] / (1 << 20):,.0f} MiB"
    except (OSError, RuntimeError, KeyError, ValueError):
        return "?"


def report(args: argparse.Namespace, result: dict[str, Any]) -> int:
    unit = "records" if TARGETS[args.mode].signal == "logs" else "points"
    ok = result["lost"] == 0 and result["stored_rows"] >= result["acked_total"]
    print()
    print(f"sustained     {result['points_per_s']:>12,} acknowledged {unit}/s over {result['measured_seconds']} s")
    print(
        f"acknowledged  {result['acked_total']:>12,} {unit} in {result['requests']:,} requests "
        f"({result['retries']:,} retries, {result['errors']:,} errors)"
    )
    print(f"stored        {result['stored_rows']:>12,} rows  -> {'OK, nothing lost' if ok else 'LOST DATA'}")
    print(
        f"collector     peak RSS {result['peak_rss_mib']:,.1f} MiB at {result['peak_rss_at_s']} s "
        f"(VmHWM {result['peak_vmhwm_mib']:,.1f} MiB), "
        f"CPU {result['collector_cpu_percent']}% of one core while measured ({result['cores']} cores)"
    )
    print(
        f"CPU per point collector {result['collector_cpu_us_per_point']} us, clients "
        f"{result['client_cpu_us_per_point']} us; load average at the end {result['load_average']}"
    )
    if args.heavy_readers:
        heavy = result["heavy_reads"]
        print(
            f"heavy reads   {heavy['queries']:,} answers ({heavy['cut']:,} cut at a limit) by {args.heavy_readers} "
            f"readers while ingesting: p50 {heavy.get('p50_ms')} ms, max {heavy.get('max_ms')} ms, "
            f"{heavy['errors']} errors"
        )
    if args.readers:
        reads = result["reads"]
        print(
            f"reads         {reads['queries']:,} small queries by {args.readers} readers while ingesting: "
            f"p50 {reads.get('p50_ms')} ms, p95 {reads.get('p95_ms')} ms, p99 {reads.get('p99_ms')} ms, "
            f"max {reads.get('max_ms')} ms, {reads['errors']} errors"
        )
    if "rollups" in result:
        print(f"rollups       {result['rollups']['hours']:,} hours rolled up, {result['rollups']['samples']:,} samples")
    if "settled" in result:
        settled = result["settled"]
        within = f"{'' if settled['settled'] else 'NOT '}within {settled['settled_after_s']} s"
        print(
            f"settled       {within} after the last export; collector CPU per point, all its work for them "
            f"included (less {settled['idle_cpu_percent']}% of a core idle while waiting): "
            f"{settled['collector_cpu_us_per_point']} us"
        )
        ok = ok and settled["settled"]
    if args.overload:
        bounded = result["peak_vmhwm_mib"] < args.rss_limit_mib
        print(
            f"overload      memory {'bounded' if bounded else 'NOT bounded'}: peak "
            f"{result['peak_vmhwm_mib']:,.1f} MiB vs limit {args.rss_limit_mib:,.0f} MiB"
        )
        ok = ok and bounded
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    return report(args, run(args))


if __name__ == "__main__":
    sys.exit(main())
