"""Governed changes: approval rules, policies and the other documents a rule guards wait for sign-off.

A definition's change has always waited for the approval rules that match it. This module does the
same for the documents that decide what waits: a change to an ``ApprovalRule``, ``Policy``, ``Pin``,
``Environment`` or ``ResourceType`` is governed by every rule whose ``match.kinds`` names that kind
(for a pin, narrowed by the pinned definition's type and the environment's type), and a change to an
existing approval rule is always governed by that rule itself: a rule cannot be weakened by fewer
people than it asks for. Adding a rule needs no sign-off unless a rule governs rules: rules only add
sign-offs.

A governed change is stored in ``catalog_changes`` as change N of KIND/ID, bound to its content hash,
and applied once every governing rule (as they stand when each approval comes) has its approvals from
members of its group other than the proposer. A newer proposal for the same document withdraws an
older one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from trellis.catalog import approvals, audit
from trellis.catalog.approvals import SYSTEM_ACTOR
from trellis.catalog.errors import CatalogError
from trellis.catalog.models import ApprovalRuleSpec, EnvironmentSpec
from trellis.catalog.repository import ChangeRow, Repository


class Catalog(Protocol):
    """What governing reads and writes of the catalog; ``trellis.catalog.service.Catalog`` is one (the
    service calls this module, so this module cannot import the service back)."""

    groups: dict[str, set[str]]
    now: Callable[[], datetime]

    @property
    def repo(self) -> Repository:
        """The catalog's tables, in the current session."""

    def approval_rules(self) -> dict[str, ApprovalRuleSpec]:
        """Every approval rule in force."""

    def environments(self) -> dict[str, EnvironmentSpec]:
        """Every registered environment."""

    def record(self, actor: str, action: str, obj: str, change: dict[str, Any]) -> None:
        """Append an audit entry in the current transaction."""

    def announce(self, name: str, payload: dict[str, Any]) -> None:
        """Send an event once the current transaction commits."""

    def write_object(self, kind: str, object_id: str, spec: dict[str, Any], description: str | None, actor: str) -> str:
        """Store a document other than a definition, audited."""


def governing_rules(catalog: Catalog, kind: str, object_id: str, spec: dict[str, Any]) -> dict[str, ApprovalRuleSpec]:
    """The approval rules a change of this document must satisfy (none: it applies at once)."""
    rules = catalog.approval_rules()
    found = {
        rule_id: rule
        for rule_id, rule in rules.items()
        if kind in rule.match.kinds and _narrows(catalog, rule, kind, spec)
    }
    if kind == "ApprovalRule" and object_id in rules:
        found[object_id] = rules[object_id]  # a rule guards changes to itself
    return dict(sorted(found.items()))


def _narrows(catalog: Catalog, rule: ApprovalRuleSpec, kind: str, spec: dict[str, Any]) -> bool:
    """For a pin, a rule's type and env_type must fit the pinned definition and environment; an
    environment not registered, or a definition unknown, fits (the stricter reading)."""
    if kind != "Pin":
        return True
    match = rule.match
    environment = catalog.environments().get(spec["env"])
    if match.env_type is not None and environment is not None and environment.type != match.env_type:
        return False
    definition = catalog.repo.definition(spec["definition"])
    return match.type is None or definition is None or definition["type"] == match.type


def content_hash(kind: str, object_id: str, spec: dict[str, Any]) -> str:
    return hashlib.sha256(audit.canonical([kind, object_id, spec])).hexdigest()


def propose_change(
    catalog: Catalog, kind: str, object_id: str, spec: dict[str, Any], description: str | None, actor: str
) -> tuple[str, str]:
    """Record a governed change; returns the action (``proposed``, or ``unchanged`` when the same change
    waits already) and what it waits for."""
    digest = content_hash(kind, object_id, spec)
    changes = catalog.repo.changes(kind, object_id)
    waiting = [c for c in changes if c.state == "proposed"]
    if waiting and waiting[-1].content_hash == digest:
        return "unchanged", _waiting_text(waiting[-1], missing(catalog, waiting[-1]))
    for row in waiting:
        catalog.repo.settle_change(row, "withdrawn", catalog.now())
        catalog.record(actor, "withdraw", f"{row.ref}@{row.version}", {})
    row = ChangeRow(kind, object_id, (changes[-1].version if changes else 0) + 1, digest, spec, description,
                    "proposed", actor, catalog.now())  # fmt: skip
    catalog.repo.add_change(row)
    before = catalog.repo.objects(kind).get(object_id)
    catalog.record(actor, "propose", f"{row.ref}@{row.version}", audit.diff(before, spec))
    return "proposed", _settle(catalog, row)


def missing(catalog: Catalog, row: ChangeRow) -> list[str]:
    return approvals.missing(_counted(catalog, row))


def _counted(catalog: Catalog, row: ChangeRow) -> approvals.Counted:
    approvers = catalog.repo.approvals(row.ref, row.version, row.content_hash)
    return approvals.count(governing_rules(catalog, row.kind, row.id, row.spec), approvers, catalog.groups)


def eligible(catalog: Catalog, row: ChangeRow) -> list[str]:
    done = {row.proposed_by, *catalog.repo.approvals(row.ref, row.version, row.content_hash)}
    return approvals.eligible(_counted(catalog, row), catalog.groups, done)


def _waiting_text(row: ChangeRow, still: list[str]) -> str:
    return f"change {row.version} awaits approval: {'; '.join(still)}"


def _settle(catalog: Catalog, row: ChangeRow) -> str:
    """Apply the change when every governing rule has its approvals; otherwise say what it waits for."""
    still = missing(catalog, row)
    if still:
        catalog.announce("approval.requested", {**summary(row), "missing": still, "approvers": eligible(catalog, row)})
        return _waiting_text(row, still)
    record = approvals.record(_counted(catalog, row), row.content_hash)
    catalog.write_object(row.kind, row.id, row.spec, row.description, SYSTEM_ACTOR)
    catalog.repo.settle_change(row, "applied", catalog.now())
    catalog.record(SYSTEM_ACTOR, "apply", f"{row.ref}@{row.version}", record)
    return f"change {row.version} is applied"


def approve_change(catalog: Catalog, ref: str, version: int, actor: str, content_hash_seen: str | None) -> str:
    """Record an approval of change ``version`` of ``ref`` (KIND/ID); applies it when the rules are met."""
    kind, _, object_id = ref.partition("/")
    found = [c for c in catalog.repo.changes(kind, object_id) if c.version == version]
    if not found:
        raise CatalogError(f"change {version} of {ref} does not exist", 404)
    row = found[0]
    if row.state != "proposed":
        raise CatalogError(f"change {version} of {ref} is {row.state}, not awaiting approval", 409)
    if content_hash_seen is not None and content_hash_seen != row.content_hash:
        raise CatalogError("the change is not the one you reviewed; review it again", 409)
    if actor == row.proposed_by:
        raise CatalogError("you proposed this change; someone else must approve it", 403)
    rules = governing_rules(catalog, row.kind, row.id, row.spec)
    if not any(actor in catalog.groups.get(rule.group, set()) for rule in rules.values()):
        groups = ", ".join(sorted({rule.group for rule in rules.values()}))
        raise CatalogError(f"{actor} is not in {groups}, whose approval this change needs", 403)
    if actor in catalog.repo.approvals(ref, version, row.content_hash):
        raise CatalogError(f"{actor} already approved change {version} of {ref}", 409)
    catalog.repo.add_approval(ref, version, row.content_hash, actor, catalog.now())
    catalog.record(actor, "approve", f"{ref}@{version}", {"content_hash": row.content_hash})
    catalog.announce("version.approved", {**summary(row), "approver": actor})
    return _settle(catalog, row)


def summary(row: ChangeRow) -> dict[str, Any]:
    """A change as the pending list and events show it, in the shape of a definition's version."""
    return {
        "definition": row.ref,
        "kind": row.kind,
        "id": row.id,
        "version": row.version,
        "content_hash": row.content_hash,
        "state": row.state,
        "proposed_by": row.proposed_by,
        "proposed_at": row.proposed_at,
    }


def pending(catalog: Catalog) -> list[dict[str, Any]]:
    """Every governed change that waits, with its diff field by field and who is missing."""
    answer = []
    for row in catalog.repo.pending_changes():
        before = catalog.repo.objects(row.kind).get(row.id)
        answer.append({
            **summary(row),
            "diff": audit.diff(before, row.spec),
            "fields": audit.field_diff(before or {}, row.spec),
            "impact": {"consumers": 0, "apps": 0, "teams": 0, "environments": 0, "moves": 0, "pending": 0},
            "policies": [],
            "approvals": catalog.repo.approvals(row.ref, row.version, row.content_hash),
            "missing": missing(catalog, row),
            "approvers": eligible(catalog, row),
        })  # fmt: skip
    return answer


__all__ = ["approve_change", "governing_rules", "missing", "pending", "propose_change"]
