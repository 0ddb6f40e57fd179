"""The metric history of a simulated period as OTLP protobuf, one export request per simulated day.

The OpenTelemetry metrics SDK stamps every point with the time it is collected, so a history cannot go
through it: ``metric_requests`` builds ``ExportMetricsServiceRequest`` messages with the
``opentelemetry-proto`` classes, as a kubeletstats receiver would have exported them: per container, a
cumulative ``container.cpu.time`` counter (seconds; it restarts from zero with a new start time when the
container restarts or a deployment replaces the pod), ``container.memory.working_set`` and the requests
(``k8s.container.cpu.request.current``, ``k8s.container.memory.request.current``) as gauges, and the
database pool's ``db.client.connection.count``. Servers report ``postgresql.db_size``,
``redis.memory.used`` and ``redis.clients.connected`` for the catalog resources the workloads resolved
to (``server.address`` is the resolved host). One point per series every ``backfill_minutes``
(containers) or ``resource_backfill_minutes`` (servers).

Everything here is a function of the plan: the same plan gives the same bytes.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from trellis.simulator.instances import POOL_SIZE, Instance, instances, load, server_attributes, server_values
from trellis.simulator.model import Environment, Organisation
from trellis.simulator.otlp import SCOPE_NAME, SCOPE_VERSION, key_value
from trellis.simulator.plan import DAY, MINUTE, NS, Plan

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


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


__all__ = ["metric_requests"]
