"""Changes from pushes, as GitHub and GitLab both send them: each pushed commit and the pushed head, with the
earliest commit time of the push as the first commit of the change that brought them."""

from __future__ import annotations

from trellis.collector.webhooks.receiver import Change, Lookups, Payload, Reading, instant, text

NO_REVISION = "0" * 40
"""The ``after`` of a push that deletes a branch."""


def push_changes(payload: Payload, repository: str, keys: dict[str, str]) -> Reading:
    """The changes of a push payload (``commits`` with ``id`` and ``timestamp``, and ``after``)."""
    commits = [c for c in payload.get("commits") or [] if isinstance(c, dict)]
    if payload.get("deleted") or payload.get("after") == NO_REVISION or not commits:
        return Reading(ignored="the push brings no commits")
    first = min(instant(commit, "timestamp") for commit in commits)
    revisions = {text(commit, "id") for commit in commits} | {text(payload, "after")}
    return Reading(changes=[Change(repository, revision, first) for revision in sorted(revisions)], keys=keys)


def first_commit(lookups: Lookups, repository: str, revision: str, fallback: int | None) -> dict[str, str]:
    """A deployment's lead-time attribute: the first commit an earlier push or merge recorded for the revision,
    else ``fallback``; nothing when neither is known."""
    found = lookups.first_commit(repository, revision) or fallback
    return {"trellis.change.first_commit_time": str(found)} if found else {}


__all__ = ["first_commit", "push_changes"]
