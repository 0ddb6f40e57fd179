"""A platform's worth of data for the dashboard's tests, sent the way real users send it.

Events and container metrics go over OTLP/HTTP (JSON, in batches, as an OpenTelemetry Collector would),
the catalog is filled through its API (``apply``, ``resolve``, ``propose``, ``import``). No analytics run
is stored: the pages ask for the jobs' answers themselves. ``populate(collector, days=90, workloads=60)``
is the demo-sized platform the browser test measures; the AppTest tests use a smaller one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import ROOT
from trellis.testing import RunningCollector

TEAMS = ["shop", "payments", "discovery", "identity", "logistics", "media"]
ENVIRONMENTS = {"staging": "staging", "production-eu": "production"}
SECRET = "${secret:vault/pg#password}"

TOKENS = {
    "alice": ("tok-alice-0123456789", ["admin"], []),
    "bob": ("tok-bob-0123456789", ["approve", "read"], ["platform-admins"]),
    "carol": ("tok-carol-0123456789", ["propose", "approve", "read"], ["data-leads", "platform-admins"]),
    "dave": ("tok-dave-0123456789", ["approve", "read"], ["platform-admins"]),
    "reader": ("tok-reader-0123456789", ["read"], []),
    "ingester": ("tok-ingest-0123456789", ["ingest"], []),
}
"""alice edits the catalog; bob and dave approve production changes; carol leads the data team, which owns
pg-prod, and approves too; reader only reads."""


def tokens_yaml() -> str:
    import yaml

    entries = [{"name": n, "token": t, "scopes": s, "groups": g} for n, (t, s, g) in TOKENS.items()]
    return yaml.safe_dump({"tokens": entries})


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}


def _doc(
    kind: str, object_id: str, spec: dict[str, Any], description: str | None = None, team: str | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"id": object_id}
    if description:
        metadata["description"] = description
    if team:
        metadata["team"] = team
    return {"apiVersion": "trellis/v1", "kind": kind, "metadata": metadata, "spec": spec}


def pg_outputs(host: str) -> dict[str, Any]:
    return {"host": host, "port": "5432", "name": "app", "username": "app", "password": SECRET}


def organisation_documents() -> list[dict[str, Any]]:
    """The environments, a team per app, and the data team (led by carol's group) that owns pg-prod."""
    environments = [_doc("Environment", env, {"type": env_type}) for env, env_type in ENVIRONMENTS.items()]
    teams = [_doc("Team", team, {"apps": [team], "members": [f"team-{team}"]}) for team in TEAMS]
    data = _doc("Team", "data", {"name": "Data platform", "admins": ["data-leads"]})
    return [*environments, *teams, data]


def catalog_documents() -> list[dict[str, Any]]:
    """Definitions for every environment type, a policy, and an approval rule for production."""
    return [
        _doc("ApprovalRule", "production-changes", {"match": {"env_type": "production"}, "approvals": 1,
                                                      "group": "platform-admins"}),
        _doc("Policy", "prod-backups", {"match": {"type": "postgres", "env_type": "production"},
                                         "rule": {"path": "params.backup_retention_days", "op": "gte", "value": 7},
                                         "effect": "deny", "message": "production postgres keeps backups 7 days"}),
        _doc("ResourceDefinition", "pg-prod", {
            "type": "postgres", "driver": "static", "params": {"backup_retention_days": 14, "size": "medium"},
            "outputs": pg_outputs("pg-prod.internal"), "criteria": [{"env_type": "production"}]},
            "Production PostgreSQL cluster", team="data"),
        _doc("ResourceDefinition", "pg-dev", {
            "type": "postgres", "driver": "template", "params": {"size": "small"},
            "outputs": {**pg_outputs("{{ context.app }}-{{ context.env }}.pg.internal"),
                        "password": "${secret:vault/{{ context.app }}#password}"},
            "criteria": [{"env_type": "staging"}]}, "Per-app PostgreSQL for staging"),
        _doc("ResourceDefinition", "redis-shared", {
            "type": "redis", "driver": "static", "params": {"memory_mb": 512},
            "outputs": {"host": "redis.internal", "port": "6379", "password": "${secret:vault/redis#password}"},
            "criteria": [{}]}, "Shared Redis"),
        _doc("ResourceDefinition", "bucket-default", {
            "type": "s3", "driver": "template", "params": {"versioning": True},
            "outputs": {"bucket": "{{ context.app }}-{{ context.env }}", "region": "eu-west-1",
                        "endpoint": "https://s3.eu-west-1.amazonaws.com", "aws_access_key_id": "AKIAEXAMPLE",
                        "aws_secret_access_key": "${secret:vault/s3#secret}"},
            "criteria": [{}]}, "An S3 bucket per app and environment"),
    ]  # fmt: skip


@dataclass
class Scenario:
    """What was sent, for the tests' assertions."""

    start: datetime
    end: datetime
    workloads: list[tuple[str, str]] = field(default_factory=list)
    deployments: int = 0
    incidents: int = 0
    metric_points: int = 0


def workload_names(count: int) -> list[tuple[str, str]]:
    """(team, workload) pairs, spread over the teams."""
    kinds = ["api", "worker", "web", "cron", "gateway", "indexer", "consumer", "scheduler", "ingest", "sync"]
    out = []
    for i in range(count):
        team = TEAMS[i % len(TEAMS)]
        out.append((team, f"{team[:4]}-{kinds[(i // len(TEAMS)) % len(kinds)]}{'' if i < 60 else i}"))
    return out


def _attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            out.append({"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}})
        elif isinstance(value, float):
            out.append({"key": key, "value": {"doubleValue": value}})
        else:
            out.append({"key": key, "value": {"stringValue": str(value)}})
    return out


def _ns(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1_000_000_000))


class Sender:
    """Batches OTLP/JSON records per resource and posts them to the collector."""

    def __init__(self, collector: RunningCollector, headers: dict[str, str]) -> None:
        self.collector, self.headers = collector, headers
        self.http = httpx.Client(timeout=120)

    def logs(self, batches: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]]) -> None:
        resources = [
            {"resource": {"attributes": _attrs(dict(key))}, "scopeLogs": [{"scope": {"name": "ci"}, "logRecords": r}]}
            for key, r in batches.items()
        ]
        for i in range(0, len(resources), 20):
            self._post("/v1/logs", {"resourceLogs": resources[i : i + 20]})

    def metrics(self, resource: dict[str, Any], metrics: list[dict[str, Any]]) -> None:
        scope = {"scope": {"name": "kubeletstats"}, "metrics": metrics}
        body = {"resourceMetrics": [{"resource": {"attributes": _attrs(resource)}, "scopeMetrics": [scope]}]}
        self._post("/v1/metrics", body)

    def _post(self, path: str, body: dict[str, Any]) -> None:
        response = self.http.post(f"{self.collector.otlp_http}{path}", json=body, headers=self.headers)
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.http.close()


def call(collector: RunningCollector, name: str, path: str, body: dict[str, Any], user: str = "alice") -> Any:
    """A catalog (or analytics) API call as ``user``; fails the test on an error."""
    response = httpx.post(f"{collector.api}{path}", json=body, headers=bearer(user), timeout=600)
    assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"
    return response.json()


def score(name: str, resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "score.dev/v1b1", "metadata": {"name": name},
            "containers": {"main": {"image": f"registry.example/{name}:1"}}, "resources": resources}  # fmt: skip


def _resources_of(index: int) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = {"db": {"type": "postgres"}}
    if index % 2 == 0:
        resources["cache"] = {"type": "redis"}
    if index % 3 == 0:
        resources["assets"] = {"type": "s3"}
    if index % 7 == 3:
        resources["search"] = {"type": "postgres", "class": "large"}  # nothing serves it: a miss
    return resources


def fill_catalog(collector: RunningCollector, workloads: list[tuple[str, str]]) -> None:
    """Apply the catalog, resolve every workload in every environment, roll out a new staging version."""
    call(collector, "apply", "/api/v1/catalog/apply", {"documents": organisation_documents()})
    documents = catalog_documents()
    # definitions first: the approval rule applies to changes made after it
    call(collector, "apply", "/api/v1/catalog/apply", {"documents": documents[2:]})
    call(collector, "apply", "/api/v1/catalog/apply", {"documents": documents[:2]})
    for index, (team, name) in enumerate(workloads):
        for env, env_type in ENVIRONMENTS.items():
            body = {"workload": score(name, _resources_of(index)), "app": team, "env": env, "env_type": env_type}
            response = httpx.post(f"{collector.api}/api/v1/resolve", json=body, headers=bearer("alice"), timeout=60)
            assert response.status_code in (200, 400), response.text  # 400: the 'large' postgres misses
    # a second staging version; half of the workloads redeploy onto it, the rest lag behind
    staging = catalog_documents()[3]
    staging["spec"]["params"]["size"] = "medium"
    call(collector, "propose", "/api/v1/catalog/propose", {"document": staging, "base_version": 1})
    for index, (team, name) in enumerate(workloads[::2]):
        body = {"workload": score(name, _resources_of(index * 2)), "app": team, "env": "staging", "env_type": "staging"}
        httpx.post(f"{collector.api}/api/v1/resolve", json=body, headers=bearer("alice"), timeout=60)
    team, name = workloads[1]
    expires = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pin = _doc("Pin", f"{name}-db-freeze", {"app": team, "env": "staging", "workload": name, "resource": "db",
                                            "definition": "pg-dev", "version": 1, "reason": "load test running",
                                            "owner": f"team-{team}", "expires": expires})  # fmt: skip
    call(collector, "apply", "/api/v1/catalog/apply", {"documents": [pin]})
    redis = catalog_documents()[4]
    redis["spec"]["params"]["memory_mb"] = 1024
    call(collector, "propose", "/api/v1/catalog/propose", {"document": redis, "base_version": 1})  # awaits bob
    text = (ROOT / "sample_data" / "terraform" / "legacy.tfstate.json").read_text()
    call(
        collector,
        "import",
        "/api/v1/catalog/import",
        {"format": "terraform", "text": text, "file": "legacy.tfstate.json"},
    )


def send_events(
    sender: Sender, workloads: list[tuple[str, str]], start: datetime, days: int, rng: random.Random
) -> tuple[int, int]:
    """Deployments (most days, both environments) and incidents after some failed production ones."""
    batches: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    deployments = incidents = 0
    for index, (team, name) in enumerate(workloads):
        key = (("service.name", name), ("service.namespace", team))
        records = batches.setdefault(key, [])
        rate = 0.3 + 0.6 * ((index * 37) % 10) / 10
        for day in range(days):
            for env in ENVIRONMENTS:
                if rng.random() > rate:
                    continue
                at = start + timedelta(days=day, hours=rng.randint(7, 18), minutes=rng.randint(0, 59))
                failed = rng.random() < 0.08
                deployment_id = f"{name}-{env}-{day}"
                resources = [f"db={'pg-prod' if env == 'production-eu' else 'pg-dev'}@1"]
                records.append({
                    "timeUnixNano": _ns(at), "eventName": "trellis.deployment",
                    "body": {"stringValue": "trellis.deployment"},
                    "attributes": _attrs({
                        "deployment.id": deployment_id, "deployment.status": "failed" if failed else "succeeded",
                        "deployment.environment.name": env, "vcs.ref.head.revision": f"{rng.getrandbits(40):010x}",
                        "trellis.change.first_commit_time": (at - timedelta(hours=rng.randint(2, 120))).isoformat(),
                        "trellis.resources": resources,
                    }),
                })  # fmt: skip
                deployments += 1
                if failed and env == "production-eu":
                    incidents += 1
                    for status, moment in (
                        ("opened", at + timedelta(minutes=5)),
                        ("resolved", at + timedelta(minutes=rng.randint(20, 600))),
                    ):
                        records.append({"timeUnixNano": _ns(moment), "eventName": "trellis.incident",
                                        "body": {"stringValue": "trellis.incident"},
                                        "attributes": _attrs({"incident.id": f"inc-{deployment_id}",
                                                              "incident.status": status,
                                                              "deployment.environment.name": env})})  # fmt: skip
    sender.logs(batches)
    return deployments, incidents


def send_metrics(
    sender: Sender,
    workloads: list[tuple[str, str]],
    start: datetime,
    days: int,
    rng: random.Random,
    every_hours: int = 6,
) -> int:
    """Container CPU and memory, used and requested, of every workload in production."""
    points = 0
    for team, name in workloads:
        cpu_request, memory_request = rng.choice([0.25, 0.5, 1.0, 2.0]), rng.choice([256, 512, 1024, 2048]) * 2**20
        load = rng.uniform(0.1, 0.9)
        series: dict[str, list[dict[str, Any]]] = {m: [] for m in ("cpu", "mem", "cpu_req", "mem_req")}
        moment = start + timedelta(hours=1)
        while moment < start + timedelta(days=days):
            ns = _ns(moment)
            series["cpu"].append({"timeUnixNano": ns, "asDouble": cpu_request * load * rng.uniform(0.6, 1.3)})
            series["mem"].append({"timeUnixNano": ns, "asDouble": memory_request * load * rng.uniform(0.8, 1.1)})
            series["cpu_req"].append({"timeUnixNano": ns, "asDouble": cpu_request})
            series["mem_req"].append({"timeUnixNano": ns, "asDouble": float(memory_request)})
            moment += timedelta(hours=every_hours)
        metrics = [
            {"name": "container.cpu.usage", "unit": "{cpu}", "gauge": {"dataPoints": series["cpu"]}},
            {"name": "container.memory.working_set", "unit": "By", "gauge": {"dataPoints": series["mem"]}},
            {"name": "k8s.container.cpu.request", "unit": "{cpu}", "gauge": {"dataPoints": series["cpu_req"]}},
            {"name": "k8s.container.memory.request", "unit": "By", "gauge": {"dataPoints": series["mem_req"]}},
        ]
        resource = {
            "service.name": name,
            "service.namespace": team,
            "deployment.environment.name": "production-eu",
            "k8s.namespace.name": team,
            "k8s.pod.name": f"{name}-7d9f-abcde",
            "k8s.container.name": "main",
        }
        sender.metrics(resource, metrics)
        points += sum(len(s) for s in series.values())
    return points


def populate(collector: RunningCollector, days: int = 90, workloads: int = 60, seed: int = 11) -> Scenario:
    """Send ``days`` of history for ``workloads`` workloads, fill the catalog and run the analytics."""
    rng = random.Random(seed)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - timedelta(days=days), today + timedelta(days=1)  # history up to yesterday; today included
    names = workload_names(workloads)
    scenario = Scenario(start, end, names)
    sender = Sender(collector, bearer("ingester"))
    try:
        scenario.deployments, scenario.incidents = send_events(sender, names, start, days, rng)
        scenario.metric_points = send_metrics(sender, names, start, days, rng)
    finally:
        sender.close()
    fill_catalog(collector, names)
    return scenario
