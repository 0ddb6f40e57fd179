"""What runs in a simulated organisation: each workload's pods in every environment, and the servers it uses.

A workload runs in an environment as an ``Instance``: pods replaced by each successful deployment, each
replica restarting now and then, busy by the hour of the day and the day of the week (``load``). The
database and cache servers are the catalog resources the workloads resolved to (``server_attributes``,
``server_values``). The metric history (``metric_history``) and the live stream (``live``) both read them.

Everything here is a function of the plan: the same plan gives the same pods and the same values.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from trellis.simulator.model import Environment, Organisation, Workload
from trellis.simulator.otlp import key_value
from trellis.simulator.plan import DAY, HOUR, Plan, WorkloadUsage

POOL_SIZE = {"production": 20, "staging": 8, "development": 4}


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


# ---------------------------------------------------------------------------------------------
# Servers: the databases and caches the workloads resolved to, by resolved host
# ---------------------------------------------------------------------------------------------


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


__all__ = ["POOL_SIZE", "Instance", "Replica", "instances", "load", "server_attributes", "server_values"]
