"""``--live``: the organisation keeps running, in real time, through the OpenTelemetry SDK.

Metrics come from the SDK's ``MeterProvider``: one per pod and one per database or cache server
(each is its own OpenTelemetry resource), with observable instruments whose callbacks read the
simulated load at collection time. Every ``live_seconds`` an ``InMemoryMetricReader`` per provider is
collected and the merged ``MetricsData`` goes out through one ``OTLPMetricExporter``, the same
path a ``PeriodicExportingMetricReader`` takes, without a thread per pod.

Deployments follow the team profiles ``speed`` times faster than in the backfill (a demo should
show something within minutes): each one resolves its workload through the catalog API (which
records a binding), sends its pipeline trace and its ``trellis.deployment`` event through the SDK,
and replaces the workload's pods. Failures bring fixes and incidents as in the backfill.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult, MetricsData
from opentelemetry.sdk.resources import Resource

from trellis.catalog import CatalogClient, CatalogError
from trellis.collector.client import ClientError
from trellis.simulator.catalog import MISS_MARKER, resolve_payload, resource_entries
from trellis.simulator.instances import (
    POOL_SIZE,
    Instance,
    Replica,
    instances,
    load,
    server_attributes,
    server_values,
)
from trellis.simulator.model import Organisation, SimulationError, Team, Workload
from trellis.simulator.otlp import SCOPE_NAME, SCOPE_VERSION
from trellis.simulator.plan import DAY, MINUTE, NS, Deployment, Incident, Plan, WorkloadUsage
from trellis.simulator.send import Progress, SignalExporter, headers
from trellis.simulator.signals import Signals, emit_deployment, emit_incident, pipeline


class _Meter:
    """A MeterProvider with an in-memory reader, for one OpenTelemetry resource."""

    def __init__(self, attributes: dict[str, Any]) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(
            resource=Resource(attributes), metric_readers=[self.reader], shutdown_on_exit=False
        )
        self.meter = self.provider.get_meter(SCOPE_NAME, SCOPE_VERSION)

    def collect(self) -> list[Any]:
        data = self.reader.get_metrics_data()
        return list(data.resource_metrics) if data is not None else []

    def close(self) -> None:
        self.provider.shutdown()


class PodMeter(_Meter):
    """One pod's container: CPU as a cumulative counter since the pod started, memory and requests as gauges."""

    def __init__(self, run: Instance, generation: int, replica: Replica, non_production: float) -> None:
        super().__init__(run.attributes(generation, replica.index))
        self.run, self.replica, self.non_production = run, replica, non_production
        self.last = time.time_ns()
        self.cpu_seconds = 0.0
        m, w = self.meter, run.workload
        m.create_observable_counter("container.cpu.time", [self._cpu], unit="s")
        m.create_observable_gauge("container.memory.working_set", [self._memory], unit="By")
        m.create_observable_gauge(
            "k8s.container.cpu.request.current", [lambda _: [Observation(w.cpu_request)]], unit="{cpu}"
        )
        memory_request = int(w.memory_request)
        m.create_observable_gauge(
            "k8s.container.memory.request.current", [lambda _: [Observation(memory_request)]], unit="By"
        )
        if run.databases:
            m.create_observable_up_down_counter("db.client.connection.count", [self._pool], unit="{connection}")
        self.started = self.last

    def _cpu(self, options: CallbackOptions) -> Iterable[Observation]:
        now = time.time_ns()
        cores = self.run.cpu_cores(self.replica.rng, now, self.non_production)
        self.cpu_seconds += cores * (now - self.last) / NS
        self.last = now
        return [Observation(self.cpu_seconds)]

    def _memory(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.run.memory(self.replica.rng, time.time_ns(), self.started, self.non_production))]

    def _pool(self, options: CallbackOptions) -> Iterable[Observation]:
        size = POOL_SIZE.get(self.run.env.type, 4)
        busy = min(load(self.run.env, time.time_ns(), self.non_production) * self.run.usage.cpu, 1.0)
        out = []
        for name in self.run.databases:
            used = min(size, max(0, round(size * busy * self.replica.rng.uniform(0.6, 1.1))))
            for state, value in (("used", used), ("idle", size - used)):
                attributes = {"db.client.connection.state": state, "db.client.connection.pool.name": name}
                out.append(Observation(value, attributes))
        return out


class ServerMeter(_Meter):
    """A database or cache server the catalog resolved a workload to."""

    def __init__(self, live: Live, env_id: str, app: str, host: str, r: dict[str, Any]) -> None:
        env = live.org.environment(env_id)
        super().__init__(server_attributes(env, app, host, r))
        self.version = (r["definition"], r["version"])
        self.values = lambda: server_values(
            live.seed, env, host, r, (time.time_ns() - live.origin) / DAY, load(env, time.time_ns(), live.npl)
        )
        if r["type"] == "postgres":
            name = str(r["outputs"].get("name", "app"))
            self.meter.create_observable_gauge(
                "postgresql.db_size",
                [lambda _: [Observation(self.values()["postgresql.db_size"], {"postgresql.database.name": name})]],
                unit="By",
            )
        else:
            self.meter.create_observable_gauge(
                "redis.memory.used", [lambda _: [Observation(self.values()["redis.memory.used"])]], unit="By"
            )
            self.meter.create_observable_up_down_counter(
                "redis.clients.connected", [lambda _: [Observation(self.values()["redis.clients.connected"])]],
                unit="{client}",
            )  # fmt: skip


@dataclass(order=True)
class _Due:
    at: int
    order: int
    kind: str
    payload: Any = None


class Live:
    """The organisation in real time: metrics every ``live_seconds``, deployments and incidents as they come."""

    def __init__(
        self,
        org: Organisation,
        plan: Plan,
        catalog: CatalogClient,
        endpoint: str,
        token: str | None,
        seed: int,
        speed: float = 10.0,
        progress: Progress | None = None,
    ) -> None:
        self.org, self.plan, self.catalog, self.seed, self.speed = org, plan, catalog, seed, max(speed, 0.01)
        self.progress = progress or Progress()
        self.npl = org.non_production_load
        self.origin = plan.start
        self.rng = random.Random(f"{seed}:live")
        self.signals = Signals(f"{seed}:live-ids:{time.time_ns()}")
        self.exporter = SignalExporter(endpoint, token)
        self.metrics = OTLPMetricExporter(
            endpoint=f"{endpoint.rstrip('/')}/v1/metrics", headers=headers(token), timeout=10,
            compression=Compression.Gzip,
        )  # fmt: skip
        self.workloads = {w.key: w for w in org.workloads}
        self.runs = {(r.workload.key, r.env.id): r for r in instances(plan, org)}
        self.pods: dict[tuple[str, str], list[PodMeter]] = {}
        self.servers: dict[tuple[str, str], ServerMeter] = {}
        self.queue: list[_Due] = []
        self.counter = 0
        self.deployments = 0
        self.incidents = 0
        self.misses = 0
        self.points = 0
        self.failures = 0

    # setup -------------------------------------------------------------------
    def start(self) -> None:
        now = time.time_ns()
        for key, run in self.runs.items():
            self._pods(key, run)
        for (workload_key, env_id), history in self.plan.resolutions.items():
            if history:
                self._servers(workload_key, env_id, history[-1][1])
        for team in self.org.teams.values():
            for env in self.org.environments:
                rate = self._rate(team, env.type)
                if rate > 0:
                    self._schedule(now + self._gap(rate), "deploy", (team.id, env.id))
        for incident in self.plan.live_incidents():
            if incident.resolved is not None and incident.resolved >= self.plan.end:
                self._schedule(
                    max(now, now + (incident.resolved - self.plan.end) // int(self.speed)), "resolve", incident
                )

    def _rate(self, team: Team, env_type: str) -> float:
        """Deployment occasions per day for a team in an environment type (before ``speed``)."""
        profile = team.profile
        if profile.cadence == "continuous":
            return profile.per_day.get(env_type, 0.0)
        every = profile.every_days.get(env_type, 0.0)
        return 1.0 / every if every > 0 else 0.0

    def _gap(self, per_day: float) -> int:
        return max(int(self.rng.expovariate(per_day * self.speed) * DAY), NS)

    def _schedule(self, at: int, kind: str, payload: Any) -> None:
        self.counter += 1
        heapq.heappush(self.queue, _Due(at, self.counter, kind, payload))

    def _pods(self, key: tuple[str, str], run: Instance) -> None:
        for pod in self.pods.pop(key, []):
            pod.close()
        generation = len(run.pods_from) - 1
        self.pods[key] = [PodMeter(run, generation, replica, self.npl) for replica in run.replicas]

    def _servers(self, workload_key: str, env_id: str, resources: dict[str, Any]) -> None:
        app = workload_key.split("/", 1)[0]
        for r in resources.values():
            if r["type"] not in ("postgres", "redis"):
                continue
            host = str(r["outputs"].get("host", ""))
            current = self.servers.get((env_id, host))
            if current is not None:
                if current.version == (r["definition"], r["version"]):
                    continue
                current.close()
            self.servers[(env_id, host)] = ServerMeter(self, env_id, app, host, r)

    # the loop ----------------------------------------------------------------
    def run(self, stop: threading.Event, watch: Callable[[], None] | None = None) -> None:
        """Until ``stop`` is set (or Ctrl-C): export metrics, deploy, open and resolve incidents."""
        self.start()
        interval = self.org.metrics.live_seconds
        next_export = time.monotonic()
        next_report = time.monotonic() + 60
        self.progress.line(
            f"live: metrics every {interval:g} s from {sum(len(p) for p in self.pods.values())} pods and "
            f"{len(self.servers)} servers; deployments {self.speed:g}x as often as the team profiles say"
        )
        try:
            while not stop.is_set():
                now = time.time_ns()
                while self.queue and self.queue[0].at <= now:
                    self._handle(heapq.heappop(self.queue), now)
                if time.monotonic() >= next_export:
                    self.export_metrics()
                    next_export += interval
                if time.monotonic() >= next_report:
                    self.progress.line(self.summary())
                    next_report += 60
                if watch is not None:
                    watch()
                wait = min(max(next_export - time.monotonic(), 0.05), 1.0)
                if self.queue:
                    wait = min(wait, max((self.queue[0].at - time.time_ns()) / NS, 0.05))
                stop.wait(wait)
        finally:
            self.close()

    def summary(self) -> str:
        return (
            f"live: {self.deployments} deployments, {self.incidents} incidents, {self.misses} misses, "
            f"{self.points:,} metric points sent" + (f", {self.failures} exports failed" if self.failures else "")
        )

    def export_metrics(self) -> None:
        resource_metrics = []
        for pods in self.pods.values():
            for pod in pods:
                resource_metrics.extend(pod.collect())
        for server in self.servers.values():
            resource_metrics.extend(server.collect())
        if not resource_metrics:
            return
        data = MetricsData(resource_metrics=resource_metrics)
        points = sum(
            len(metric.data.data_points) for rm in resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
        )
        if self.metrics.export(data) == MetricExportResult.SUCCESS:
            self.points += points
        else:
            self.failures += 1
            self.progress.line("live: the collector did not accept a metrics export; the next one follows")

    def _handle(self, due: _Due, now: int) -> None:
        if due.kind == "deploy":
            team_id, env_id = due.payload
            team = self.org.teams[team_id]
            env = self.org.environment(env_id)
            self._schedule(now + self._gap(self._rate(team, env.type)), "deploy", due.payload)
            for workload in self._pick(team):
                self.deploy(team, workload, env_id, "change")
        elif due.kind == "fix":
            team_id, workload_key, env_id = due.payload
            self.deploy(self.org.teams[team_id], self.workloads[workload_key], env_id, "fix")
        elif due.kind == "open":
            incident, recovery = due.payload
            self._send_incident(incident, "opened", now)
            self.incidents += 1
            self._schedule(now + recovery, "resolve", incident)
        elif due.kind == "resolve":
            self._send_incident(due.payload, "resolved", now)

    def _pick(self, team: Team) -> list[Workload]:
        workloads = self.org.team_workloads(team.id)
        profile = team.profile
        if profile.cadence == "release-train":
            return workloads
        if profile.cadence == "releases":
            return self.rng.sample(workloads, self.rng.randint(1, min(profile.release_size, len(workloads))))
        return [self.rng.choice(workloads)]

    def deploy(self, team: Team, workload: Workload, env_id: str, kind: str) -> None:
        env = self.org.environment(env_id)
        profile = team.profile
        now = time.time_ns()
        duration = int(self.rng.uniform(*profile.duration_minutes) * MINUTE / self.speed)
        lead = int(self.rng.uniform(*profile.lead_time_hours) * 3600 * NS)
        if kind == "fix":
            lead = int(self.rng.uniform(2, 10) * MINUTE)
        status = "failed" if kind == "change" and self.rng.random() < profile.failure_rate else "succeeded"
        if profile.cadence == "release-train" and env.production and profile.succeed_every > 1:
            status = "succeeded" if self.rng.random() < 1 / profile.succeed_every else "failed"
        deployment = Deployment(
            f"{workload.name}-{env_id}-{time.strftime('%Y%m%d%H%M%S', time.gmtime(now / NS))}-{self.counter}",
            workload.app, workload.name, env_id, env.type, now - max(duration, NS), now, status, now - lead, kind,
        )  # fmt: skip
        deployment.run_id = str(90_000 + self.counter)
        deployment.revision = f"{self.rng.getrandbits(160):040x}"
        deployment.version = f"3.{self.counter // 10}.{self.counter % 10}"
        self.counter += 1
        try:
            answer = self.catalog.call("resolve", resolve_payload(workload, env_id, env.type))
        except (CatalogError, ClientError) as exc:
            if MISS_MARKER not in str(exc):
                raise SimulationError(f"resolving {workload.key} in {env_id}: {exc}") from None
            deployment.blocked = str(exc).removeprefix("400: ")
            self.misses += 1
            answer = None
        if answer is not None:
            deployment.resources = resource_entries(answer)
        context = pipeline(self.signals, deployment)
        if deployment.happened:
            emit_deployment(self.signals, deployment, context)
            self.deployments += 1
        spans, logs = self.signals.take()
        self.exporter.export_spans(spans)
        self.exporter.export_logs(logs)
        if not deployment.happened or answer is None:
            return
        if status == "succeeded":
            self._replace_pods(workload, env_id)
            self._servers(workload.key, env_id, answer["resources"])
        self._consequences(team, deployment)

    def _replace_pods(self, workload: Workload, env_id: str) -> None:
        key = (workload.key, env_id)
        run = self.runs.get(key)
        if run is None:
            run = _fresh_instance(self, workload, env_id)
            self.runs[key] = run
        else:
            run.pods_from.append(time.time_ns())
            run.hashes.append(f"{self.rng.getrandbits(40):010x}")
        self._pods(key, run)

    def _consequences(self, team: Team, d: Deployment) -> None:
        profile = team.profile
        now = time.time_ns()
        if d.status == "failed" and profile.fix_after_minutes is not None:
            fix = int(self.rng.uniform(*profile.fix_after_minutes) * MINUTE / self.speed)
            self._schedule(now + fix, "fix", (team.id, d.key, d.env))
        if d.env_type != "production":
            return
        if (d.status == "succeeded" and self.rng.random() < profile.incident_rate) or (
            d.status == "failed" and self.rng.random() < 0.5
        ):
            recovery = int(self.rng.uniform(*profile.recovery_minutes) * MINUTE / self.speed)
            opened = now + int(self.rng.uniform(1, 10) * MINUTE / self.speed)
            incident = Incident(f"INC-{opened // 1_000_000}", d.app, d.workload, d.env, opened, opened + recovery, d.id)
            self._schedule(opened, "open", (incident, recovery))

    def _send_incident(self, incident: Incident, status: str, at: int) -> None:
        emit_incident(self.signals, incident, status, at)
        _, logs = self.signals.take()
        self.exporter.export_logs(logs)

    def close(self) -> None:
        for pods in self.pods.values():
            for pod in pods:
                pod.close()
        for server in self.servers.values():
            server.close()
        self.pods.clear()
        self.servers.clear()
        self.exporter.close()
        self.metrics.shutdown()


def _fresh_instance(live: Live, workload: Workload, env_id: str) -> Instance:
    """A workload that runs for the first time (the catalog could not serve it before)."""
    env = live.org.environment(env_id)
    replicas = [
        Replica(r, [], random.Random(f"{live.seed}:live-replica:{workload.key}:{env_id}:{r}"))
        for r in range(live.org.replicas.get(env_id, 1))
    ]
    usage = live.plan.usage.get(workload.key) or WorkloadUsage(0.5, 0.5, 30.0)
    databases = [name for name, r in sorted(workload.resources.items()) if r.get("type") == "postgres"]
    return Instance(
        workload,
        env,
        usage,
        time.time_ns(),
        [time.time_ns()],
        [f"{live.rng.getrandbits(40):010x}"],
        replicas,
        databases,
    )
