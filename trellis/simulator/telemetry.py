"""What a simulated organisation sends: metric history as OTLP protobuf, events and spans through the SDK.

- **Metrics.** The OpenTelemetry metrics SDK stamps every point with the time it is collected, so
  a history cannot go through it: ``metric_requests`` builds ``ExportMetricsServiceRequest``
  messages with the ``opentelemetry-proto`` classes, one per simulated day, as a kubeletstats
  receiver would have exported them: per container, a cumulative ``container.cpu.time`` counter
  (seconds; it restarts from zero with a new start time when the container restarts or a deployment
  replaces the pod), ``container.memory.working_set`` and the requests
  (``k8s.container.cpu.request.current``, ``k8s.container.memory.request.current``) as gauges, and
  the database pool's ``db.client.connection.count``. Servers report ``postgresql.db_size``,
  ``redis.memory.used`` and ``redis.clients.connected`` for the catalog resources the workloads
  resolved to (``server.address`` is the resolved host). One point per series every
  ``backfill_minutes`` (containers) or ``resource_backfill_minutes`` (servers).
- **Events and spans** go through the SDK with explicit timestamps: a ``LoggerProvider`` per
  resource emits the ``trellis.deployment`` and ``trellis.incident`` records (events.md), and a
  ``TracerProvider`` per team records each pipeline run as a trace (``deploy <workload>`` with
  ``resolve resources``, ``build`` and ``rollout``), ids drawn from the seed. The records are
  collected in memory and handed to the OTLP exporters in batches (``simulator_send``).

Everything here is a function of the plan: the same plan gives the same bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from trellis.collector.events import DEPLOYMENT_EVENT, INCIDENT_EVENT
from trellis.simulator.model import Environment, Organisation, Workload
from trellis.simulator.plan import DAY, HOUR, MINUTE, NS, Deployment, Incident, Plan, WorkloadUsage

SCOPE_NAME = "trellis.simulate"
SCOPE_VERSION = "1"
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
POOL_SIZE = {"production": 20, "staging": 8, "development": 4}


def rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(text: str, length: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:length]


def load(env: Environment, t: int, non_production: float) -> float:
    """How busy a workload is at ``t`` relative to its daily average: a day curve, quieter weekends."""
    hour = (t % DAY) / HOUR
    weekday = (t // DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    if env.production:
        peak = 19.0 if (env.region or "").startswith("us") else 13.0
        factor = 1.0 + 0.45 * math.cos(2 * math.pi * (hour - peak) / 24)
        return factor * (0.75 if weekday >= 5 else 1.0)
    busy = 8 <= hour < 18 and weekday < 5
    return non_production * (1.5 if busy else 0.6)


def key_value(key: str, value: str | int | float | bool) -> KeyValue:
    """An OTLP attribute: the value as the AnyValue of its type."""
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


# ---------------------------------------------------------------------------------------------
# Containers: one instance per workload and environment, with replicas, pods and restarts
# ---------------------------------------------------------------------------------------------


@dataclass
class Replica:
    index: int
    restarts: list[int]
    rng: random.Random
    series: tuple[int, int] | None = None
    cpu_seconds: float = 0.0


@dataclass
class Instance:
    """A workload running in one environment: pods replaced by each successful deployment."""

    workload: Workload
    env: Environment
    usage: WorkloadUsage
    alive_from: int
    pods_from: list[int]
    hashes: list[str]
    replicas: list[Replica]
    databases: list[str] = field(default_factory=list)

    def generation(self, t: int) -> int:
        return bisect.bisect_right(self.pods_from, t) - 1

    def pod_name(self, generation: int, replica: int) -> str:
        return f"{self.workload.name}-{self.hashes[generation]}-{_digest(f'{self.hashes[generation]}:{replica}', 5)}"

    def run_start(self, replica: Replica, generation: int, t: int) -> int:
        started = self.pods_from[generation]
        i = bisect.bisect_right(replica.restarts, t) - 1
        return max(started, replica.restarts[i]) if i >= 0 else started

    def attributes(self, generation: int, replica: int) -> dict[str, str]:
        """The pod's resource attributes, as the Kubernetes receivers set them."""
        w, env = self.workload, self.env
        attributes = {
            "service.name": w.name,
            "service.namespace": w.app,
            "deployment.environment.name": env.id,
            "k8s.cluster.name": f"{env.id}-cluster",
            "k8s.namespace.name": w.app,
            "k8s.deployment.name": w.name,
            "k8s.replicaset.name": f"{w.name}-{self.hashes[generation]}",
            "k8s.pod.name": self.pod_name(generation, replica),
            "k8s.container.name": w.container,
        }
        if env.region:
            attributes["cloud.region"] = env.region
        return attributes

    def resource(self, generation: int, replica: int) -> list[KeyValue]:
        return [key_value(k, v) for k, v in self.attributes(generation, replica).items()]

    def cpu_cores(self, rng: random.Random, t: int, non_production: float) -> float:
        base = self.workload.cpu_request * self.usage.cpu * load(self.env, t - HOUR // 2, non_production)
        return min(base * min(max(rng.gauss(1.0, 0.08), 0.6), 1.5), self.workload.cpu_limit)

    def memory(self, rng: random.Random, t: int, run_start: int, non_production: float) -> int:
        w = self.workload
        busy = load(self.env, t, non_production) / (1.0 if self.env.production else max(non_production, 1e-9))
        age_days = max(t - run_start, 0) / DAY
        value = w.memory_request * self.usage.memory * (0.9 + 0.1 * busy) * (1 + 0.03 * min(age_days, 10))
        if not self.env.production:
            value *= max(non_production * 1.6, 0.35)
        value *= min(max(rng.gauss(1.0, 0.03), 0.9), 1.1)
        return int(min(value, w.memory_limit * 0.99))


def instances(plan: Plan, org: Organisation) -> list[Instance]:
    """Every workload in every environment that ran at some point of the plan's period."""
    deployed: dict[tuple[str, str], list[int]] = {}
    for d in plan.deployments:
        if d.happened and d.status == "succeeded":
            deployed.setdefault((d.key, d.env), []).append(d.finished)
    out = []
    for w in org.workloads:
        databases = [name for name, r in sorted(w.resources.items()) if r.get("type") == "postgres"]
        for env in org.environments:
            rng = random.Random(f"{plan.seed}:instance:{w.key}:{env.id}")
            initial = plan.start - int(rng.uniform(1, 20) * DAY)
            times = sorted(deployed.get((w.key, env.id), []))
            if (w.key, env.id) in plan.unserved:
                if not times:
                    continue
                pods_from = times
            else:
                pods_from = [initial, *times]
            hashes = [_digest(f"{plan.seed}:{w.key}:{env.id}:{i}", 10) for i in range(len(pods_from))]
            replicas = []
            for r in range(org.replicas.get(env.id, 1)):
                rrng = random.Random(f"{plan.seed}:replica:{w.key}:{env.id}:{r}")
                restarts, t = [], plan.start
                while w.usage.restarts_every_days > 0:
                    t += int(rrng.expovariate(1.0 / w.usage.restarts_every_days) * DAY)
                    if t >= plan.end:
                        break
                    restarts.append(t)
                replicas.append(Replica(r, restarts, rrng))
            usage = plan.usage[w.key]
            out.append(Instance(w, env, usage, pods_from[0], pods_from, hashes, replicas, databases))
    return out


class _Batch:
    """One export request under construction: a ResourceMetrics per resource, a Metric per name."""

    def __init__(self) -> None:
        self.request = ExportMetricsServiceRequest()
        self.points = 0
        self._resources: dict[Any, Any] = {}
        self._metrics: dict[tuple[Any, str], Any] = {}

    def metric(self, key: Any, resource: Any, name: str, unit: str, kind: str) -> Any:
        """The metric ``name`` of the resource ``key`` (``resource`` is called to build it the first time)."""
        found = self._metrics.get((key, name))
        if found is not None:
            return found
        scope = self._resources.get(key)
        if scope is None:
            rm = self.request.resource_metrics.add()
            rm.resource.attributes.extend(resource())
            scope = rm.scope_metrics.add()
            scope.scope.name, scope.scope.version = SCOPE_NAME, SCOPE_VERSION
            self._resources[key] = scope
        metric = scope.metrics.add(name=name, unit=unit)
        if kind == "counter":
            metric.sum.aggregation_temporality = CUMULATIVE
            metric.sum.is_monotonic = True
            data = metric.sum.data_points
        elif kind == "updown":
            metric.sum.aggregation_temporality = CUMULATIVE
            metric.sum.is_monotonic = False
            data = metric.sum.data_points
        else:
            data = metric.gauge.data_points
        self._metrics[(key, name)] = data
        return data


def _grid(start: int, end: int, step: int) -> list[int]:
    first = -(-start // step) * step
    if first == start:
        first += step
    return list(range(first, end + 1, step))


def metric_requests(plan: Plan, org: Organisation) -> Iterator[tuple[int, int, ExportMetricsServiceRequest]]:
    """The metric history of the plan's period, one export request per UTC day: (day, points, request).

    ``day`` is ``(time - 1) // DAY`` of the request's points (a point at midnight closes the day before)."""
    step = org.metrics.backfill_minutes * MINUTE
    resource_step = org.metrics.resource_backfill_minutes * MINUTE
    runs = instances(plan, org)
    servers = _Servers(plan, org)
    times = _grid(plan.start, plan.end, step)
    resource_times = set(_grid(plan.start, plan.end, resource_step))
    for day, day_times in _by_day(times):
        batch = _Batch()
        for t in day_times:
            for run in runs:
                if t <= run.alive_from:
                    continue
                _container_points(batch, run, t, step, org.non_production_load, t in resource_times)
            if t in resource_times:
                servers.points(batch, t)
        yield day, batch.points, batch.request


def _by_day(times: list[int]) -> Iterator[tuple[int, list[int]]]:
    day: list[int] = []
    current = None
    for t in times:
        key = (t - 1) // DAY
        if current is not None and key != current:
            yield current, day
            day = []
        current = key
        day.append(t)
    if day and current is not None:
        yield current, day


def _container_points(batch: _Batch, run: Instance, t: int, step: int, non_production: float, with_pool: bool) -> None:
    generation = run.generation(t)
    w = run.workload
    for replica in run.replicas:
        start = run.run_start(replica, generation, t)
        cores = run.cpu_cores(replica.rng, t, non_production)
        if replica.series != (generation, start):
            replica.series = (generation, start)
            replica.cpu_seconds = cores * (t - start) / NS
        else:
            replica.cpu_seconds += cores * (t - max(start, t - step)) / NS
        key = (run.workload.key, run.env.id, generation, replica.index)

        def resource(generation: int = generation, replica_index: int = replica.index) -> list[KeyValue]:
            return run.resource(generation, replica_index)

        batch.metric(key, resource, "container.cpu.time", "s", "counter").add(
            start_time_unix_nano=start, time_unix_nano=t, as_double=round(replica.cpu_seconds, 6)
        )
        batch.metric(key, resource, "container.memory.working_set", "By", "gauge").add(
            time_unix_nano=t, as_int=run.memory(replica.rng, t, start, non_production)
        )
        batch.metric(key, resource, "k8s.container.cpu.request.current", "{cpu}", "gauge").add(
            time_unix_nano=t, as_double=w.cpu_request
        )
        batch.metric(key, resource, "k8s.container.memory.request.current", "By", "gauge").add(
            time_unix_nano=t, as_int=int(w.memory_request)
        )
        batch.points += 4
        if with_pool and run.databases:
            size = POOL_SIZE.get(run.env.type, 4)
            busy = min(load(run.env, t, non_production) * run.usage.cpu, 1.0)
            pool = batch.metric(key, resource, "db.client.connection.count", "{connection}", "updown")
            for name in run.databases:
                used = min(size, max(0, round(size * busy * replica.rng.uniform(0.6, 1.1))))
                for state, value in (("used", used), ("idle", size - used)):
                    point = pool.add(start_time_unix_nano=run.pods_from[generation], time_unix_nano=t, as_int=value)
                    point.attributes.extend(
                        [
                            key_value("db.client.connection.state", state),
                            key_value("db.client.connection.pool.name", name),
                        ]
                    )
                    batch.points += 1


def server_attributes(env: Environment, app: str, host: str, r: dict[str, Any]) -> dict[str, str | int]:
    """A database or cache server's resource attributes; ``r`` is its entry in a resolve answer."""
    return {
        "service.namespace": app,
        "deployment.environment.name": env.id,
        "db.system.name": "postgresql" if r["type"] == "postgres" else "redis",
        "server.address": host,
        "trellis.definition.id": str(r["definition"]),
        "trellis.definition.version": int(r["version"]),
    }


def server_values(
    seed: int, env: Environment, host: str, r: dict[str, Any], days: float, busy: float
) -> dict[str, int]:
    """Database size, or cache memory and clients, of one server ``days`` into the simulation."""
    salt = int(_digest(f"{seed}:{host}", 8), 16)
    if r["type"] == "postgres":
        base = (2 + salt % 60) * 2**30 if env.production else (50 + salt % 500) * 2**20
        return {"postgresql.db_size": int(base * (1 + 0.004 * max(days, 0.0)))}
    memory_mb = 256 if not env.production else (8192 if r.get("class") == "large" else 2048)
    used = int(memory_mb * 2**20 * min(0.3 + 0.1 * (salt % 5) + 0.1 * busy, 0.95))
    return {"redis.memory.used": used, "redis.clients.connected": max(1, round(12 * busy))}


class _Servers:
    """Database and cache servers: the catalog resources workloads resolved to, by resolved host."""

    def __init__(self, plan: Plan, org: Organisation) -> None:
        self.plan = plan
        self.non_production = org.non_production_load
        self.envs = {e.id: e for e in org.environments}
        self.history = {key: sorted(items, key=lambda x: x[0]) for key, items in plan.resolutions.items()}
        self.rng = random.Random(f"{plan.seed}:servers")

    def points(self, batch: _Batch, t: int) -> None:
        seen: set[tuple[str, str]] = set()
        for (workload_key, env_id), history in sorted(self.history.items()):
            i = bisect.bisect_right([at for at, _ in history], t) - 1
            if i < 0:
                continue
            env = self.envs[env_id]
            app = workload_key.split("/", 1)[0]
            for _name, r in sorted(history[i][1].items()):
                if r["type"] not in ("postgres", "redis"):
                    continue
                host = str(r["outputs"].get("host", ""))
                if (env_id, host) in seen:
                    continue
                seen.add((env_id, host))
                self._server(batch, t, env, app, host, r)

    def _server(self, batch: _Batch, t: int, env: Environment, app: str, host: str, r: dict[str, Any]) -> None:
        definition, version = str(r["definition"]), int(r["version"])
        key = ("server", env.id, host, definition, version)
        system = "postgresql" if r["type"] == "postgres" else "redis"

        def resource() -> list[KeyValue]:
            return [key_value(k, v) for k, v in server_attributes(env, app, host, r).items()]

        values = server_values(
            self.plan.seed, env, host, r, (t - self.plan.start) / DAY, load(env, t, self.non_production)
        )
        if system == "postgresql":
            gauge = batch.metric(key, resource, "postgresql.db_size", "By", "gauge")
            point = gauge.add(time_unix_nano=t, as_int=values["postgresql.db_size"])
            point.attributes.append(key_value("postgresql.database.name", str(r["outputs"].get("name", "app"))))
            batch.points += 1
        else:
            memory = batch.metric(key, resource, "redis.memory.used", "By", "gauge")
            memory.add(time_unix_nano=t, as_int=values["redis.memory.used"])
            clients = batch.metric(key, resource, "redis.clients.connected", "{client}", "updown")
            clients.add(
                start_time_unix_nano=self.plan.start, time_unix_nano=t, as_int=values["redis.clients.connected"]
            )
            batch.points += 2


# ---------------------------------------------------------------------------------------------
# Events and spans through the SDK
# ---------------------------------------------------------------------------------------------


class Collect(LogRecordExporter, SpanExporter):
    """An exporter that keeps what the SDK hands it, for batching or comparing."""

    def __init__(self) -> None:
        self.logs: list[ReadableLogRecord] = []
        self.spans: list[ReadableSpan] = []

    def export(self, batch: Sequence[Any]) -> Any:
        if batch and isinstance(batch[0], ReadableSpan):
            self.spans.extend(batch)
            return SpanExportResult.SUCCESS
        self.logs.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class SeededIds(IdGenerator):
    """Trace and span ids from a seeded generator, so the same plan gives the same traces."""

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def generate_span_id(self) -> int:
        return self.rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.rng.getrandbits(128) or 1


class Signals:
    """SDK providers that collect instead of exporting: one tracer provider per team, loggers per resource."""

    def __init__(self, seed: str) -> None:
        self.collect = Collect()
        self.ids = SeededIds(seed)
        self._tracers: dict[str, trace_api.Tracer] = {}
        self._loggers: dict[tuple[str, ...], Any] = {}

    def tracer(self, app: str) -> trace_api.Tracer:
        if app not in self._tracers:
            resource = Resource({"service.name": "ci-pipeline", "service.namespace": app})
            provider = TracerProvider(resource=resource, id_generator=self.ids, shutdown_on_exit=False)
            provider.add_span_processor(SimpleSpanProcessor(self.collect))
            self._tracers[app] = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)
        return self._tracers[app]

    def logger(self, service: str, namespace: str, version: str | None = None) -> Any:
        """A logger whose resource is the workload (and the version deployed, for deployment events)."""
        key = (service, namespace, version or "")
        if key in self._loggers:
            return self._loggers[key]
        attributes = {"service.name": service, "service.namespace": namespace}
        if version:
            attributes["service.version"] = version
        provider = LoggerProvider(resource=Resource(attributes), shutdown_on_exit=False)
        provider.add_log_record_processor(SimpleLogRecordProcessor(self.collect))
        logger = provider.get_logger(SCOPE_NAME, SCOPE_VERSION)
        if not version:  # each version is deployed a few times at most: not worth keeping
            self._loggers[key] = logger
        return logger

    def take(self) -> tuple[list[ReadableSpan], list[ReadableLogRecord]]:
        spans, logs = self.collect.spans, self.collect.logs
        self.collect.spans, self.collect.logs = [], []
        return spans, logs


def deployment_attributes(d: Deployment) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "deployment.id": d.id,
        "deployment.name": f"{d.workload} {d.version}",
        "deployment.status": d.status,
        "deployment.environment.name": d.env,
        "trellis.change.first_commit_time": rfc3339(d.first_commit),
        "vcs.ref.head.revision": d.revision,
        "vcs.repository.url.full": f"https://git.example.internal/{d.app}/{d.workload}",
        "cicd.pipeline.name": f"deploy-{d.env}",
        "cicd.pipeline.run.id": d.run_id,
    }
    if d.resources:
        attributes["trellis.resources"] = list(d.resources)
    return attributes


def pipeline(signals: Signals, d: Deployment) -> trace_api.SpanContext:
    """The pipeline run of a deployment as a trace; returns the root span's context."""
    tracer = signals.tracer(d.app)
    common = {
        "cicd.pipeline.name": f"deploy-{d.env}",
        "cicd.pipeline.run.id": d.run_id,
        "deployment.id": d.id,
        "deployment.environment.name": d.env,
        "trellis.workload": d.workload,
    }
    root = tracer.start_span(f"deploy {d.workload}", kind=SpanKind.INTERNAL, attributes=common, start_time=d.started)
    context = trace_api.set_span_in_context(root)
    duration = d.finished - d.started
    resolved = d.started + min(2 * NS, duration // 10)
    span = tracer.start_span("resolve resources", context=context, start_time=d.started)
    if d.blocked is not None:
        span.set_status(Status(StatusCode.ERROR, d.blocked))
        span.end(end_time=resolved)
        root.set_status(Status(StatusCode.ERROR, "the catalog could not serve the workload"))
        root.end(end_time=resolved)
        return root.get_span_context()
    span.set_attribute("trellis.resources", list(d.resources or []))
    span.end(end_time=resolved)
    built = resolved + int(duration * 0.55)
    tracer.start_span("build", context=context, start_time=resolved).end(end_time=built)
    rollout = tracer.start_span("rollout", context=context, start_time=built)
    if d.status == "failed":
        rollout.set_status(Status(StatusCode.ERROR, "rollout failed; rolled back"))
        root.set_status(Status(StatusCode.ERROR, "deployment failed"))
    rollout.end(end_time=d.finished)
    root.end(end_time=d.finished)
    return root.get_span_context()


def emit_deployment(signals: Signals, d: Deployment, span: trace_api.SpanContext | None) -> None:
    logger = signals.logger(d.workload, d.app, d.version)
    context = trace_api.set_span_in_context(trace_api.NonRecordingSpan(span)) if span is not None else None
    logger.emit(
        event_name=DEPLOYMENT_EVENT,
        body=DEPLOYMENT_EVENT,
        attributes=deployment_attributes(d),
        timestamp=d.finished,
        observed_timestamp=d.finished + 1_500_000_000,
        context=context,
    )


def emit_incident(signals: Signals, incident: Incident, status: str, at: int) -> None:
    logger = signals.logger(incident.workload, incident.app)
    attributes = {
        "incident.id": incident.id,
        "incident.status": status,
        "deployment.environment.name": incident.env,
    }
    if status == "opened":
        attributes["trellis.caused_by.deployment_id"] = incident.caused_by
    logger.emit(
        event_name=INCIDENT_EVENT,
        body=INCIDENT_EVENT,
        attributes=attributes,
        timestamp=at,
        observed_timestamp=at + 2_000_000_000,
    )


def history_signals(plan: Plan) -> tuple[list[ReadableSpan], list[ReadableLogRecord]]:
    """Every pipeline trace and every deployment and incident event of the plan."""
    signals = Signals(f"{plan.seed}:ids")
    for d in plan.deployments:
        context = pipeline(signals, d)
        if d.happened:
            emit_deployment(signals, d, context)
    for incident in plan.live_incidents():
        emit_incident(signals, incident, "opened", incident.opened)
        if incident.resolved is not None and incident.resolved < plan.end:
            emit_incident(signals, incident, "resolved", incident.resolved)
    return signals.take()
