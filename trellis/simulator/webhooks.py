"""GitHub and PagerDuty deliveries beside the OTLP history: the connectors at work in ``trellis demo``.

The organisation's connectors file (``sample_data/connectors.yaml``) says which repositories are on GitHub
and which PagerDuty service pages for which workload in which environment. ``choose`` hands the last
``GITHUB_DEPLOYMENTS`` production deployments of those repositories to GitHub, and the last
``PAGERDUTY_INCIDENTS`` incidents of those services resolved within the history to PagerDuty. They take
the ids the receivers give them (``github-deployment-<id>``, ``pagerduty-<id>``), so that their pipeline
traces and the incidents they cause name the rows the webhooks make, and the OTLP history leaves their
events out, so that nothing counts twice. ``send_webhooks`` delivers them, signed with the demo's public
secrets: for each deployment a merged pull request (whose opening is the change's first commit, hence the
lead time), then the deployment's final status; for each incident ``incident.triggered``, then
``incident.resolved``.

The payloads have the shape of GitHub's webhook payloads and PagerDuty's v3 webhooks: the fields the
receivers read, and enough of the rest to read like them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from pydantic import ValidationError

from trellis.collector import ConnectorsFile
from trellis.simulator.model import SimulationError
from trellis.simulator.plan import MINUTE, NS, Deployment, Incident, Plan, clip_resolved
from trellis.simulator.send import Progress

CONNECTORS_FILE = "connectors.yaml"
GITHUB_DEPLOYMENTS = 20
"""Production deployments of GitHub repositories that GitHub reports: the last ones of the history."""
PAGERDUTY_INCIDENTS = 3
"""Incidents of PagerDuty services that PagerDuty reports: the last ones resolved within the history."""
DEMO_SECRETS = {
    "DEMO_GITHUB_WEBHOOK_SECRET": "demo-github-local-only",
    "DEMO_PAGERDUTY_WEBHOOK_SECRET": "demo-pagerduty-local-only",
}
"""The demo's webhook secrets by variable: public, like the demo's tokens, for a collector on 127.0.0.1 only."""
GITHUB_ID_BASE = 1_900_000_000
"""GitHub's deployment ids are large numbers; the simulator's are this plus the pipeline run."""
RETRY_FOR_SECONDS = 60.0

Payload = dict[str, Any]


@dataclass(frozen=True)
class Routes:
    """Where the organisation's tools report, from its connectors file."""

    repositories: dict[str, str]
    """Workload key (``payments/ledger``) -> GitHub repository (``owner/name``)."""
    services: dict[tuple[str, str], str]
    """(workload key, environment) -> PagerDuty service name."""
    secrets: dict[str, str]
    """Source (``github``, ``pagerduty``) -> the secret its deliveries are signed with."""


@dataclass(frozen=True)
class Delivery:
    source: str
    headers: dict[str, str]
    body: bytes


def read_routes(root: Path) -> Routes | None:
    """The GitHub repositories and PagerDuty services of ``root/connectors.yaml``; None without the file."""
    path = root / CONNECTORS_FILE
    if not path.exists():
        return None
    try:
        document = ConnectorsFile.model_validate(yaml.safe_load(path.read_text()) or {})
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise SimulationError(f"{path}: not a connectors file: {str(exc).splitlines()[0]}") from None
    repositories, services, secrets = {}, {}, {}
    for source, config in (("github", document.github), ("pagerduty", document.pagerduty)):
        if config is None:
            continue
        if config.secret_env not in DEMO_SECRETS:
            known = " and ".join(DEMO_SECRETS)
            raise SimulationError(f"{path}: field {source}.secret_env: the demo sets only {known}")
        secrets[source] = DEMO_SECRETS[config.secret_env]
        for entry in config.workloads:
            key = f"{entry.service_namespace}/{entry.service_name}"
            if "repository" in entry.match:
                repositories[key] = entry.match["repository"]
            if "service" in entry.match and entry.environment:
                services[(key, entry.environment)] = entry.match["service"]
    return Routes(repositories, services, secrets)


def choose(plan: Plan, routes: Routes) -> None:
    """Hand the last deployments and incidents the connectors file covers to GitHub and PagerDuty (after the
    catalog's replay, which decides what happened)."""
    renamed: dict[str, str] = {}
    if "github" in routes.secrets:
        covered = [d for d in plan.happened() if d.env_type == "production" and d.key in routes.repositories]
        for d in covered[-GITHUB_DEPLOYMENTS:]:
            renamed[d.id] = d.id = f"github-deployment-{_github_id(d)}"
            d.via = "github"
    for incident in plan.incidents:
        incident.caused_by = renamed.get(incident.caused_by, incident.caused_by)
    if "pagerduty" in routes.secrets:
        paged = [i for i in plan.live_incidents() if _paged(plan, routes, i)]
        for incident in paged[-PAGERDUTY_INCIDENTS:]:
            incident.id, incident.via = f"pagerduty-{_pagerduty_id(plan, incident)}", "pagerduty"


def _paged(plan: Plan, routes: Routes, incident: Incident) -> bool:
    """Whether PagerDuty can report the incident whole: a service pages for it, and it was resolved within the
    history (``--live`` resolves the others later, over OTLP)."""
    covered = (f"{incident.app}/{incident.workload}", incident.env) in routes.services
    return covered and clip_resolved(plan, incident) is not None


def send_webhooks(plan: Plan, routes: Routes, api: str, progress: Progress) -> Counter[str]:
    """Deliver what ``choose`` handed to GitHub and PagerDuty; the collector's outcomes, counted."""
    deliveries = list(github_deliveries(plan, routes)) + list(pagerduty_deliveries(plan, routes))
    outcomes: Counter[str] = Counter()
    with httpx.Client(base_url=api, timeout=60.0) as http:
        for delivery in deliveries:
            outcomes[_post(http, delivery)] += 1
    sources = Counter(d.source for d in deliveries)
    answers = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items())) or "nothing to send"
    progress.line(
        f"webhooks: {sources['github']} GitHub and {sources['pagerduty']} PagerDuty deliveries sent to "
        f"{api}/api/v1/webhooks: {answers}"
    )
    return outcomes


def _post(http: httpx.Client, delivery: Delivery) -> str:
    """POST one delivery until the collector takes it (it answers 503 while its write queue is full)."""
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    path = f"/api/v1/webhooks/{delivery.source}"
    while True:
        response = http.post(path, content=delivery.body, headers=delivery.headers)
        if response.status_code == 200:
            return str(response.json()["outcome"])
        if response.status_code not in (429, 503) or time.monotonic() > deadline:
            raise SimulationError(f"the collector answered {response.status_code} to {path}: {response.text[:300]}")
        time.sleep(float(response.headers.get("retry-after", "1")))


# ---------------------------------------------------------------------------------------------
# GitHub: a merged pull request, then the deployment's final status
# ---------------------------------------------------------------------------------------------


def github_deliveries(plan: Plan, routes: Routes) -> list[Delivery]:
    found = []
    for d in (d for d in plan.happened() if d.via == "github"):
        repository = routes.repositories[d.key]
        payloads = (("pull_request", pull_request(d, repository)), ("deployment_status", status(d, repository)))
        for event, payload in payloads:
            found.append(_github(routes.secrets["github"], event, f"{d.id}:{event}", payload))
    return found


def _github(secret: str, event: str, name: str, payload: Payload) -> Delivery:
    body = orjson.dumps(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/trellis-demo",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid5(uuid.NAMESPACE_URL, f"trellis-demo:{name}")),
        "X-GitHub-Hook-ID": "510001",
        "X-Hub-Signature-256": f"sha256={_sign(secret, body)}",
    }
    return Delivery("github", headers, body)


def pull_request(d: Deployment, repository: str) -> Payload:
    """The ``pull_request`` ``closed`` delivery of the change a deployment ships, merged into main."""
    number = int(d.run_id) % 10_000
    merged = _github_time(max(d.first_commit, d.started - 2 * MINUTE))
    url = f"https://github.com/{repository}/pull/{number}"
    return {
        "action": "closed",
        "number": number,
        "pull_request": {
            "url": f"https://api.github.com/repos/{repository}/pulls/{number}",
            "html_url": url,
            "number": number,
            "state": "closed",
            "title": f"{d.workload}: changes for {d.version}",
            "user": _user(),
            "created_at": _github_time(d.first_commit),
            "updated_at": merged,
            "closed_at": merged,
            "merged_at": merged,
            "merged": True,
            "merge_commit_sha": d.revision,
            "head": {"ref": f"change-{number}", "sha": hashlib.sha1(f"head:{d.revision}".encode()).hexdigest()},
            "base": {"ref": "main", "sha": hashlib.sha1(f"base:{d.revision}".encode()).hexdigest()},
        },
        "repository": _repository(repository),
        "sender": _user(),
    }


def status(d: Deployment, repository: str) -> Payload:
    """The ``deployment_status`` delivery of a deployment's final state (success or failure)."""
    deployment_id = _github_id(d)
    repository_api = f"https://api.github.com/repos/{repository}"
    deployment_url = f"{repository_api}/deployments/{deployment_id}"
    finished = _github_time(d.finished)
    return {
        "action": "created",
        "deployment_status": {
            "url": f"{deployment_url}/statuses/{deployment_id + 1}",
            "id": deployment_id + 1,
            "state": "success" if d.status == "succeeded" else "failure",
            "creator": _user(),
            "description": "rolled out" if d.status == "succeeded" else "rollout failed; rolled back",
            "environment": d.env,
            "created_at": finished,
            "updated_at": finished,
            "deployment_url": deployment_url,
            "repository_url": repository_api,
        },
        "deployment": {
            "url": deployment_url,
            "id": deployment_id,
            "sha": d.revision,
            "ref": f"v{d.version}",
            "task": "deploy",
            "payload": {},
            "original_environment": d.env,
            "environment": d.env,
            "creator": _user(),
            "created_at": _github_time(d.started),
            "updated_at": finished,
            "statuses_url": f"{deployment_url}/statuses",
            "repository_url": repository_api,
        },
        "repository": _repository(repository),
        "sender": _user(),
    }


def _github_id(d: Deployment) -> int:
    return GITHUB_ID_BASE + int(d.run_id)


def _repository(full_name: str) -> Payload:
    owner, name = full_name.split("/", 1)
    return {
        "id": int(hashlib.sha1(full_name.encode()).hexdigest()[:8], 16),
        "name": name,
        "full_name": full_name,
        "private": True,
        "owner": {"login": owner, "type": "Organization"},
        "html_url": f"https://github.com/{full_name}",
        "url": f"https://api.github.com/repos/{full_name}",
        "default_branch": "main",
    }


def _user() -> Payload:
    return {"login": "example-deploy-bot", "id": 90_000_001, "type": "Bot"}


def _github_time(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# PagerDuty: incident.triggered, then incident.resolved
# ---------------------------------------------------------------------------------------------


def pagerduty_deliveries(plan: Plan, routes: Routes) -> list[Delivery]:
    found = []
    for incident in (i for i in plan.live_incidents() if i.via == "pagerduty"):
        service = routes.services[(f"{incident.app}/{incident.workload}", incident.env)]
        moments = [("incident.triggered", incident.opened), ("incident.resolved", clip_resolved(plan, incident))]
        for event_type, at in moments:
            if at is not None:
                found.append(_pagerduty(routes.secrets["pagerduty"], incident_event(incident, service, event_type, at)))
    return found


def _pagerduty(secret: str, payload: Payload) -> Delivery:
    body = orjson.dumps(payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "PagerDuty-Webhook/V3.0",
        "X-Webhook-Id": str(payload["event"]["id"]),
        "X-PagerDuty-Signature": f"v1={_sign(secret, body)}",
    }
    return Delivery("pagerduty", headers, body)


def incident_event(incident: Incident, service: str, event_type: str, at: int) -> Payload:
    """A v3 webhook of one incident event, of the PagerDuty incident ``incident.id`` names."""
    incident_id = incident.id.removeprefix("pagerduty-")
    service_id = "P" + _base32(f"service:{service}", 6)
    resolved = event_type == "incident.resolved"
    return {
        "event": {
            "id": "01" + _base32(f"{incident.id}:{event_type}", 24),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": _pagerduty_time(at),
            "agent": None,
            "client": None,
            "data": {
                "id": incident_id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                "html_url": f"https://example.pagerduty.com/incidents/{incident_id}",
                "number": int(incident.opened // NS) % 100_000,
                "status": "resolved" if resolved else "triggered",
                "incident_key": hashlib.md5(incident.id.encode()).hexdigest(),
                "created_at": _pagerduty_time(incident.opened).replace(".000", ""),
                "title": f"{incident.workload}: error rate above its objective in {incident.env}",
                "service": {
                    "html_url": f"https://example.pagerduty.com/services/{service_id}",
                    "id": service_id,
                    "self": f"https://api.pagerduty.com/services/{service_id}",
                    "summary": service,
                    "type": "service_reference",
                },
                "assignees": [],
                "escalation_policy": {"id": "PPAYESC", "summary": "Payments", "type": "escalation_policy_reference"},
                "teams": [{"id": "PPAYTM1", "summary": "Payments", "type": "team_reference"}],
                "priority": None,
                "urgency": "high",
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }


def _pagerduty_id(plan: Plan, incident: Incident) -> str:
    return "Q" + _base32(f"{plan.seed}:{incident.id}", 6)


def _pagerduty_time(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _base32(text: str, length: int) -> str:
    return base64.b32encode(hashlib.sha1(text.encode()).digest()).decode()[:length]


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


__all__ = [
    "DEMO_SECRETS",
    "Routes",
    "choose",
    "incident_event",
    "pull_request",
    "read_routes",
    "send_webhooks",
    "status",
]
