"""GitLab: deployment events and the pipelines of configured refs as deployments, pushes as changes.

The sender is checked by ``X-Gitlab-Token``, the hook's secret token, compared in constant time.
``Idempotency-Key`` (``X-Gitlab-Event-UUID`` on older GitLab) names the delivery.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from trellis.collector.events import DEPLOYMENT_EVENT
from trellis.collector.webhooks.changes import first_commit, push_changes
from trellis.collector.webhooks.connectors import GitLabConfig
from trellis.collector.webhooks.receiver import (
    Event,
    Lookups,
    Payload,
    Reading,
    Receiver,
    SenderRefused,
    header,
    instant,
    optional,
    parse_instant,
    same_secret,
    text,
)

TOKEN_HEADER = "X-Gitlab-Token"
STATUSES = {"success": "succeeded", "failed": "failed"}
_OFFSET = re.compile(r" ?([+-]\d{2}):?(\d{2})$")


class GitLabReceiver(Receiver[GitLabConfig]):
    source = "gitlab"
    config = GitLabConfig

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, config: GitLabConfig) -> None:
        if not same_secret(header(headers, TOKEN_HEADER), secret):
            raise SenderRefused(f"the {TOKEN_HEADER} header does not hold the hook's secret token")

    def delivery(self, headers: Mapping[str, str], payload: Payload) -> tuple[str | None, str | None]:
        delivery_id = headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid")
        kind = optional(payload, "object_kind") or headers.get("x-gitlab-event")
        status = optional(payload, "status") or optional(payload, "object_attributes.status")
        return delivery_id, f"{kind}.{status}" if kind and isinstance(status, str) else kind

    def read(self, event: str, payload: Payload, config: GitLabConfig, lookups: Lookups) -> Reading:
        kind = event.split(".")[0]
        reader = _READERS.get(kind)
        if reader is None:
            return Reading(ignored=f"GitLab {kind} events mean nothing to Trellis")
        return reader(payload, config, lookups)


def gitlab_time(payload: Payload, path: str) -> int:
    """A GitLab time (``2021-04-28 21:50:00 +0200``, ``2016-08-12 15:26:29 UTC`` or RFC 3339) in ns."""
    found = text(payload, path)
    return parse_instant(_OFFSET.sub(r"\1:\2", found.replace(" UTC", "+00:00")), path)


def _project(payload: Payload) -> str:
    return text(payload, "project.path_with_namespace")


def _deployment(payload: Payload, config: GitLabConfig, lookups: Lookups) -> Reading:
    status = STATUSES.get(text(payload, "status"))
    if status is None:
        return Reading(ignored=f"deployment status {payload.get('status')!r} is not final (success or failed)")
    project, environment = _project(payload), text(payload, "environment")
    sha = text(payload, "commit_url").rstrip("/").rsplit("/", 1)[-1]
    attributes = {
        "deployment.id": f"gitlab-deployment-{text(payload, 'deployment_id')}",
        "deployment.status": status,
        "deployment.name": f"{project} {payload.get('short_sha') or sha[:8]}",
        "deployment.environment.name": environment,
        "vcs.ref.head.revision": sha,
        "vcs.repository.url.full": text(payload, "project.web_url"),
        **_job(payload),
        **first_commit(lookups, project, sha, None),
    }
    keys = {"project": project, "environment": environment}
    return Reading(events=[Event(DEPLOYMENT_EVENT, gitlab_time(payload, "status_changed_at"), attributes, keys)])


def _job(payload: Payload) -> dict[str, str]:
    job = optional(payload, "deployable_id")
    return {"cicd.pipeline.run.id": str(job)} if job is not None else {}


def _pipeline(payload: Payload, config: GitLabConfig, lookups: Lookups) -> Reading:
    ref = text(payload, "object_attributes.ref")
    deploy = next((p for p in config.deploy_pipelines if p.covers(ref)), None)
    if deploy is None:
        return Reading(ignored=f"pipelines on {ref!r} are not in gitlab.deploy_pipelines")
    status = STATUSES.get(text(payload, "object_attributes.status"))
    if status is None:
        return Reading(ignored=f"pipeline status {payload['object_attributes']['status']!r} is not final")
    project, sha = _project(payload), text(payload, "object_attributes.sha")
    run = text(payload, "object_attributes.id")
    attributes = {
        "deployment.id": f"gitlab-pipeline-{run}",
        "deployment.status": status,
        "deployment.name": f"{project} {ref}",
        "deployment.environment.name": deploy.environment,
        "vcs.ref.head.revision": sha,
        "vcs.repository.url.full": text(payload, "project.web_url"),
        "cicd.pipeline.name": str(optional(payload, "object_attributes.name") or ref),
        "cicd.pipeline.run.id": run,
        **first_commit(lookups, project, sha, _commit_time(payload)),
    }
    keys = {"project": project, "environment": deploy.environment}
    moment = gitlab_time(payload, "object_attributes.finished_at")
    return Reading(events=[Event(DEPLOYMENT_EVENT, moment, attributes, keys)])


def _commit_time(payload: Payload) -> int | None:
    return instant(payload, "commit.timestamp") if optional(payload, "commit.timestamp") else None


def _push(payload: Payload, config: GitLabConfig, lookups: Lookups) -> Reading:
    return push_changes(payload, _project(payload), {"project": _project(payload)})


_READERS: dict[str, Callable[[Payload, GitLabConfig, Lookups], Reading]] = {
    "deployment": _deployment,
    "pipeline": _pipeline,
    "push": _push,
}

__all__ = ["GitLabReceiver", "gitlab_time"]
