"""GitHub: deployment statuses and deploy workflow runs as deployments, pushes and merged pull requests as
changes (first-commit times for lead time), issues with the incident label as incidents.

The sender is checked by ``X-Hub-Signature-256`` (HMAC-SHA256 of the body); ``X-GitHub-Delivery`` names
the delivery, the same when GitHub delivers it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from trellis.collector.events import DEPLOYMENT_EVENT, INCIDENT_EVENT
from trellis.collector.webhooks.changes import first_commit, push_changes
from trellis.collector.webhooks.connectors import GitHubConfig
from trellis.collector.webhooks.receiver import (
    Change,
    Event,
    Lookups,
    Payload,
    Reading,
    Receiver,
    SenderRefused,
    header,
    hmac_sha256,
    instant,
    optional,
    same_secret,
    text,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"
DEPLOYMENT_STATES = {"success": "succeeded", "failure": "failed", "error": "failed"}
RUN_CONCLUSIONS = {"success": "succeeded", "failure": "failed", "timed_out": "failed", "startup_failure": "failed"}


class GitHubReceiver(Receiver[GitHubConfig]):
    source = "github"
    config = GitHubConfig

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, config: GitHubConfig) -> None:
        given = header(headers, SIGNATURE_HEADER)
        if not same_secret(given, f"sha256={hmac_sha256(secret, body)}"):
            raise SenderRefused(f"the {SIGNATURE_HEADER} signature does not match the body signed with the secret")

    def delivery(self, headers: Mapping[str, str], payload: Payload) -> tuple[str | None, str | None]:
        event, action = headers.get("x-github-event"), payload.get("action")
        return headers.get("x-github-delivery"), f"{event}.{action}" if event and isinstance(action, str) else event

    def read(self, event: str, payload: Payload, config: GitHubConfig, lookups: Lookups) -> Reading:
        kind = event.split(".")[0]
        if not kind:
            return Reading(ignored="the delivery names no event (X-GitHub-Event)")
        reader = _READERS.get(kind)
        if reader is None:
            return Reading(ignored=f"GitHub {kind} events mean nothing to Trellis")
        return reader(payload, config, lookups)


def _repository(payload: Payload) -> dict[str, str]:
    return {"repository": text(payload, "repository.full_name")}


def _deployment_status(payload: Payload, config: GitHubConfig, lookups: Lookups) -> Reading:
    state = text(payload, "deployment_status.state")
    status = DEPLOYMENT_STATES.get(state)
    if status is None:
        return Reading(ignored=f"deployment status {state!r} is not final (success, failure or error)")
    repository, sha = text(payload, "repository.full_name"), text(payload, "deployment.sha")
    environment = optional(payload, "deployment_status.environment") or text(payload, "deployment.environment")
    attributes = {
        "deployment.id": f"github-deployment-{text(payload, 'deployment.id')}",
        "deployment.status": status,
        "deployment.name": f"{repository} {optional(payload, 'deployment.ref') or sha[:12]}",
        "deployment.environment.name": str(environment),
        "vcs.ref.head.revision": sha,
        "vcs.repository.url.full": text(payload, "repository.html_url"),
        "cicd.pipeline.name": str(optional(payload, "deployment.task") or "deploy"),
        **first_commit(lookups, repository, sha, None),
    }
    moment = "updated_at" if optional(payload, "deployment_status.updated_at") else "created_at"
    keys = {"repository": repository, "environment": str(environment)}
    return Reading(events=[Event(DEPLOYMENT_EVENT, instant(payload, f"deployment_status.{moment}"), attributes, keys)])


def _workflow_run(payload: Payload, config: GitHubConfig, lookups: Lookups) -> Reading:
    name, path = text(payload, "workflow_run.name"), str(optional(payload, "workflow.path") or "")
    name = str(optional(payload, "workflow.name") or name)
    deploy = next((w for w in config.deploy_workflows if w.workflow in (name, path)), None)
    if deploy is None:
        return Reading(ignored=f"workflow {name!r} is not one of github.deploy_workflows")
    if payload.get("action") != "completed":
        return Reading(ignored=f"workflow run {payload.get('action')!r}: only completed runs are deployments")
    conclusion = text(payload, "workflow_run.conclusion")
    status = RUN_CONCLUSIONS.get(conclusion)
    if status is None:
        return Reading(ignored=f"a workflow run that concluded {conclusion!r} neither deployed nor failed to")
    repository, sha = text(payload, "repository.full_name"), text(payload, "workflow_run.head_sha")
    attributes = {
        "deployment.id": f"github-run-{text(payload, 'workflow_run.id')}",
        "deployment.status": status,
        "deployment.name": f"{name} #{optional(payload, 'workflow_run.run_number') or ''}".rstrip(" #"),
        "deployment.environment.name": deploy.environment,
        "vcs.ref.head.revision": sha,
        "vcs.repository.url.full": text(payload, "repository.html_url"),
        "cicd.pipeline.name": name,
        "cicd.pipeline.run.id": text(payload, "workflow_run.id"),
        **first_commit(lookups, repository, sha, _head_commit_time(payload)),
    }
    keys = {"repository": repository, "environment": deploy.environment}
    return Reading(events=[Event(DEPLOYMENT_EVENT, instant(payload, "workflow_run.updated_at"), attributes, keys)])


def _head_commit_time(payload: Payload) -> int | None:
    """When the run's head commit was made: the lead time's start when no push recorded an earlier one."""
    path = "workflow_run.head_commit.timestamp"
    return instant(payload, path) if optional(payload, path) else None


def _push(payload: Payload, config: GitHubConfig, lookups: Lookups) -> Reading:
    return push_changes(payload, text(payload, "repository.full_name"), _repository(payload))


def _pull_request(payload: Payload, config: GitHubConfig, lookups: Lookups) -> Reading:
    if payload.get("action") != "closed" or not optional(payload, "pull_request.merged"):
        return Reading(ignored="only merged pull requests are changes")
    repository = text(payload, "repository.full_name")
    opened = instant(payload, "pull_request.created_at")
    pushed = lookups.first_commit(repository, text(payload, "pull_request.head.sha"))
    first = min(opened, pushed) if pushed else opened
    changes = [Change(repository, text(payload, "pull_request.merge_commit_sha"), first)]
    return Reading(changes=changes, keys=_repository(payload))


INCIDENT_ACTIONS = {"opened": "opened", "labeled": "opened", "reopened": "opened", "closed": "resolved"}


def _issues(payload: Payload, config: GitHubConfig, lookups: Lookups) -> Reading:
    label = config.incident_label
    labels = {str(item.get("name")) for item in optional(payload, "issue.labels") or [] if isinstance(item, dict)}
    if label is None or label not in labels:
        return Reading(ignored=f"the issue has no {label!r} label (github.incident_label)")
    action = str(payload.get("action"))
    status = INCIDENT_ACTIONS.get(action)
    if status is None:
        return Reading(ignored=f"issues {action!r} neither opens nor resolves an incident")
    moment = {"opened": "issue.created_at", "reopened": "issue.updated_at", "closed": "issue.closed_at"}
    time = instant(payload, moment.get(action, "issue.created_at"))
    repository = text(payload, "repository.full_name")
    incident_id = f"github-issue-{repository}#{text(payload, 'issue.number')}"
    attributes = {"incident.id": incident_id, "incident.status": status}
    return Reading(events=[Event(INCIDENT_EVENT, time, attributes, _repository(payload))])


def _ping(payload: Payload, config: GitHubConfig, lookups: Lookups) -> Reading:
    return Reading(ignored="GitHub's ping: the hook reaches Trellis")


_READERS: dict[str, Callable[[Payload, GitHubConfig, Lookups], Reading]] = {
    "deployment_status": _deployment_status,
    "workflow_run": _workflow_run,
    "push": _push,
    "pull_request": _pull_request,
    "issues": _issues,
    "ping": _ping,
}

__all__ = ["GitHubReceiver"]
