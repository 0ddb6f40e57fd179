"""The catalog's state held against its audit log: what ``trellis audit verify`` checks beyond the hash chain.

The chain shows an entry that was edited or deleted. These checks show a table changed behind the log's
back: every object and every version must be what replaying the log gives, one version per definition
is active, and each activation that an approval rule governed names approvals the log recorded, by
people other than the proposer, bound to the content that was activated.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from trellis.catalog import audit
from trellis.catalog.repository import Repository

OBJECT_KINDS = ("Environment", "Team", "ResourceType", "Policy", "ApprovalRule", "Pin")
_VERSION_REF = re.compile(r"^(\w+)/([^@\s]+)@(\d+)$")
_STATES = {"propose": "proposed", "withdraw": "withdrawn", "activate": "active", "deprecate": "deprecated",
           "archive": "archived"}  # fmt: skip
_CHANGE_STATES = {"propose": "proposed", "withdraw": "withdrawn", "apply": "applied"}


@dataclass
class _Version:
    spec: Any = None
    state: str | None = None
    proposer: str | None = None
    approvals: dict[str, str] = field(default_factory=dict)  # approver -> content hash
    activation: dict[str, Any] | None = None


@dataclass
class Replay:
    """What the log says the catalog holds."""

    objects: dict[tuple[str, str], Any] = field(default_factory=dict)
    versions: dict[tuple[str, int], _Version] = field(default_factory=lambda: defaultdict(_Version))
    changes: dict[tuple[str, int], str] = field(default_factory=dict)
    """The state of each governed change (KIND/ID, N) of another document."""

    def apply(self, actor: str, action: str, obj: str, diff: Any) -> None:
        ref = _VERSION_REF.match(obj)
        if ref is None:
            kind, _, object_id = obj.partition("/")
            if kind in OBJECT_KINDS:
                self._object((kind, object_id), action, diff)
            return
        if ref[1] == "ResourceDefinition":
            self._version((ref[2], int(ref[3])), actor, action, diff)
        elif action == "approve":  # a governed change of another document: approvals keyed KIND/ID
            self.versions[f"{ref[1]}/{ref[2]}", int(ref[3])].approvals[actor] = diff.get("content_hash")
        elif action in _CHANGE_STATES:
            self.changes[f"{ref[1]}/{ref[2]}", int(ref[3])] = _CHANGE_STATES[action]

    def _object(self, key: tuple[str, str], action: str, diff: Any) -> None:
        if action == "create":
            self.objects[key] = diff["after"]
        elif action == "update":
            self.objects[key] = _patched(self.objects.get(key), diff)
        elif action == "pin-expired":
            self.objects.pop(key, None)

    def _version(self, key: tuple[str, int], actor: str, action: str, diff: Any) -> None:
        version = self.versions[key]
        if action == "propose":
            before = self.versions.get((key[0], key[1] - 1))
            version.spec = _patched(before.spec if before else None, diff)
            version.proposer = actor
        elif action == "approve":
            version.approvals[actor] = diff.get("content_hash")
        if action == "activate":
            version.activation = diff
        version.state = _STATES.get(action, version.state)


def _patched(before: Any, diff: Any) -> Any:
    """The value a diff of ``audit.diff`` leads to from ``before``."""
    if not isinstance(before, dict) or set(diff) == {"before", "after"}:
        return diff["after"]
    return {**before, **{key: change["after"] for key, change in diff.items()}}


def replay(repo: Repository) -> Replay:
    log = Replay()
    for actor, action, obj, diff in repo.rows("SELECT actor, action, object, diff FROM catalog_audit ORDER BY seq"):
        log.apply(actor, action, obj, orjson.loads(diff))
    return log


def state_problems(repo: Repository) -> list[str]:
    """Every way the catalog's tables differ from what its audit log says, one sentence each."""
    log = replay(repo)
    return _object_problems(repo, log) + _version_problems(repo, log) + _change_problems(repo, log)


def _change_problems(repo: Repository, log: Replay) -> list[str]:
    """Governed changes of other documents: each in the state the log says."""
    problems = []
    for kind, object_id, version, state in repo.rows(
        "SELECT kind, id, version, state FROM catalog_changes ORDER BY 1, 2, 3"
    ):
        logged = log.changes.get((f"{kind}/{object_id}", int(version)))
        if logged is None:
            problems.append(f"change {version} of {kind}/{object_id} is in the catalog but the log never proposed it")
        elif logged != state:
            problems.append(f"change {version} of {kind}/{object_id} is {state} but the log says {logged}")
    return problems


def _plain(value: Any) -> Any:
    return orjson.loads(audit.canonical(value))


def _object_problems(repo: Repository, log: Replay) -> list[str]:
    stored = {
        (kind, oid): orjson.loads(spec) for kind, oid, spec in repo.rows("SELECT kind, id, spec FROM catalog_objects")
    }
    problems = []
    for key in sorted(set(stored) | set(log.objects)):
        if key not in log.objects:
            problems.append(f"{key[0]}/{key[1]} is in the catalog but the log never created it")
        elif key not in stored:
            problems.append(f"{key[0]}/{key[1]} was removed without an entry in the log")
        elif _plain(stored[key]) != _plain(log.objects[key]):
            problems.append(f"{key[0]}/{key[1]} differs from what the log recorded")
    return problems


def _version_problems(repo: Repository, log: Replay) -> list[str]:
    problems = []
    active: dict[str, list[int]] = defaultdict(list)
    for row in repo.versions():
        ref = f"version {row.version} of {row.definition_id}"
        logged = log.versions.get((row.definition_id, row.version))
        if row.state == "active":
            active[row.definition_id].append(row.version)
        if logged is None or logged.spec is None:
            problems.append(f"{ref} is in the catalog but the log never proposed it")
            continue
        if _plain(row.spec.model_dump(mode="json", by_alias=True)) != _plain(logged.spec):
            problems.append(f"{ref} differs from the spec the log recorded")
        if row.state != logged.state:
            problems.append(f"{ref} is {row.state} but the log says {logged.state}")
        if row.state == "active":
            problems.extend(_activation_problems(ref, row.content_hash, logged))
    problems.extend(
        f"{definition_id} has {len(versions)} active versions ({versions})"
        for definition_id, versions in sorted(active.items())
        if len(versions) > 1
    )
    return problems + _approval_table_problems(repo, log)


def _activation_problems(ref: str, content_hash: str, logged: _Version) -> list[str]:
    """The activation names the rules that governed it and the approvals that met them."""
    activation = logged.activation or {}
    if "content_hash" not in activation:
        return []  # activated before activations recorded their rules
    if activation["content_hash"] != content_hash:
        return [f"{ref} was activated with other content than it holds now"]
    problems = []
    for rule_id, rule in activation.get("rules", {}).items():
        counted = set(activation.get("approvals", {}).get(rule_id, []))
        valid = {a for a in counted if logged.approvals.get(a) == content_hash and a != logged.proposer}
        if len(valid) < rule["approvals"] or valid != counted:
            problems.append(
                f"{ref} was activated under {rule_id} without {rule['approvals']} approvals from {rule['group']} "
                "in the log"
            )
    return problems


def _approval_table_problems(repo: Repository, log: Replay) -> list[str]:
    stored = {
        (d, int(v), a, h)
        for d, v, h, a in repo.rows("SELECT definition_id, version, content_hash, approver FROM catalog_approvals")
    }
    logged = {(d, v, a, h) for (d, v), version in log.versions.items() for a, h in version.approvals.items()}
    extra = sorted(stored - logged)
    return [f"an approval by {a} of version {v} of {d} is not in the log" for d, v, a, _ in extra]


__all__ = ["state_problems"]
