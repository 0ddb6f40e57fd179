"""The catalog: configure resources once, resolve them for every workload, change them with sign-offs.

``Catalog`` works on one DuckDB database: inside the collector (behind the API) or on the
file when no collector runs. Every change is one transaction and audit entries; bad input changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from trellis.catalog import approvals, audit, governance, organisation, redaction
from trellis.catalog.approvals import SYSTEM_ACTOR
from trellis.catalog.builtin_types import BUILTIN_TYPES
from trellis.catalog.documents import Source
from trellis.catalog.drivers import DRIVERS, DriverError, secret_outputs_are_references
from trellis.catalog.errors import CatalogError, ResolveError
from trellis.catalog.matching import Candidate, Context, Explanation, conflicts, explain
from trellis.catalog.models import (
    ApprovalRule,
    ApprovalRuleSpec,
    DefinitionSpec,
    Environment,
    EnvironmentSpec,
    Pin,
    PinSpec,
    Policy,
    PolicySpec,
    ResourceDefinition,
    ResourceType,
    ResourceTypeSpec,
    Team,
    TeamSpec,
)
from trellis.catalog.params import validate_params
from trellis.catalog.policies import PolicyResult, evaluate, evaluate_deployed, required_approvals
from trellis.catalog.repository import VersionRow
from trellis.catalog.resolution import resolve_workload
from trellis.catalog.score import Workload
from trellis.catalog.sessions import Sessions
from trellis.catalog.tables import migrate_catalog

APPLY_ORDER = {
    "Environment": 0, "Team": 0, "ResourceType": 1, "Policy": 2, "ApprovalRule": 3, "ResourceDefinition": 4, "Pin": 5,
}  # fmt: skip


@dataclass
class Change:
    kind: str
    id: str
    action: str
    detail: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def content_hash(spec: DefinitionSpec) -> str:
    return hashlib.sha256(audit.canonical(spec.model_dump(mode="json", by_alias=True))).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


class Catalog(Sessions):
    """The catalog's operations over one database, each in a session of its own (``Sessions``)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        groups: dict[str, set[str]] | None = None,
        deprecation_days: int = 30,
        now: Callable[[], datetime] = utc_now,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        migrate: bool = True,
        shared: bool = False,
        admins: set[str] | None = None,
    ) -> None:
        """``groups`` maps each group to the names in it and ``admins`` names the holders of the admin scope
        (both from the tokens file); ``admins=None`` means nobody is identified (no tokens file), so team
        permissions cannot apply."""
        if migrate:
            migrate_catalog(con)
        super().__init__(con, on_event, shared)
        self.groups = groups or {}
        self.admins = admins
        self.deprecation_days = deprecation_days
        self.now = now

    def record(self, actor: str, action: str, obj: str, change: dict[str, Any]) -> None:
        audit.append(self.con, self.now(), actor, action, obj, change)

    # reading ------------------------------------------------------------
    def resource_types(self) -> dict[str, ResourceTypeSpec]:
        declared = {k: ResourceTypeSpec.model_validate(v) for k, v in self.repo.objects("ResourceType").items()}
        return {**BUILTIN_TYPES, **declared}

    def policies(self) -> dict[str, PolicySpec]:
        return {k: PolicySpec.model_validate(v) for k, v in self.repo.objects("Policy").items()}

    def approval_rules(self) -> dict[str, ApprovalRuleSpec]:
        return {k: ApprovalRuleSpec.model_validate(v) for k, v in self.repo.objects("ApprovalRule").items()}

    def environments(self) -> dict[str, EnvironmentSpec]:
        return {k: EnvironmentSpec.model_validate(v) for k, v in self.repo.objects("Environment").items()}

    def environment_type(self, env: str, claimed: str | None = None) -> tuple[str, list[str]]:
        """The registered type of ``env`` and any warning (``organisation.environment_type``)."""
        return organisation.environment_type(self.environments(), env, claimed)

    def teams(self) -> dict[str, TeamSpec]:
        return {k: TeamSpec.model_validate(v) for k, v in self.repo.objects("Team").items()}

    def pins(self) -> dict[str, PinSpec]:
        return {k: PinSpec.model_validate(v) for k, v in self.repo.objects("Pin").items()}

    def active(self, definition_id: str) -> VersionRow | None:
        return next(iter(self.repo.versions(definition_id, ("active",))), None)

    def latest(self, definition_id: str) -> VersionRow | None:
        return next(reversed(self.repo.versions(definition_id)), None)

    def current(self, definition_id: str) -> VersionRow | None:
        """The version consumers get: the active one, or the newest deprecated one while none is active."""
        rows = self.repo.versions(definition_id, ("active", "deprecated"))
        active = [r for r in rows if r.state == "active"]
        return active[0] if active else (rows[-1] if rows else None)

    def candidates(self, states: tuple[str, ...] = ("current",)) -> list[Candidate]:
        """Matching candidates: one per definition from its current version, or every version in ``states``."""
        if states == ("current",):
            rows = self.repo.versions(states=("active", "deprecated"))
            current: dict[str, VersionRow] = {}
            for row in rows:
                if row.state == "active" or current.get(row.definition_id, row).state != "active":
                    current[row.definition_id] = row
            versions = list(current.values())
        else:
            versions = self.repo.versions(states=states)
        return [Candidate(v.definition_id, v.spec.type, tuple(v.spec.criteria)) for v in versions]

    # writing documents ----------------------------------------------------
    def apply(self, documents: list[tuple[Any, Source]], actor: str, dry_run: bool = False) -> list[Change]:
        """Apply documents in one transaction; with ``dry_run`` report the plan and change nothing."""
        ordered = sorted(documents, key=lambda item: APPLY_ORDER[item[0].kind])
        with self.transaction():
            changes = [self._apply_one(document, source, actor) for document, source in ordered]
            if dry_run:
                self.discard()
        return changes

    def _apply_one(self, document: Any, source: Source, actor: str) -> Change:
        try:
            self._take_ownership(document, actor)
            if isinstance(document, ResourceDefinition):
                return self._propose(document, actor)
            return self._put_object(document, actor)
        except CatalogError as exc:
            raise CatalogError(f"{source}: {exc}", exc.status) from None

    def _put_object(
        self, document: Environment | Team | ResourceType | Policy | ApprovalRule | Pin, actor: str
    ) -> Change:
        kind, object_id = document.kind, document.metadata.id
        spec = document.spec.model_dump(mode="json", by_alias=True)
        before = self.repo.objects(kind).get(object_id)
        if isinstance(document, Pin):
            self._check_pin(document.spec)
        if isinstance(document, ResourceType) and object_id in BUILTIN_TYPES:
            raise CatalogError(f"resource type {object_id} is built in and cannot be redefined")
        if before == spec:
            return Change(kind, object_id, "unchanged")
        if kind == "ResourceType":
            redaction.check_served(self, object_id, redaction.newly_secret(before, spec))
        if governance.governing_rules(self, kind, object_id, spec):
            action, detail = governance.propose_change(
                self, kind, object_id, spec, document.metadata.description, actor
            )
            return Change(kind, object_id, action, detail)
        return Change(kind, object_id, self.write_object(kind, object_id, spec, document.metadata.description, actor))

    def write_object(self, kind: str, object_id: str, spec: dict[str, Any], description: str | None, actor: str) -> str:
        """Store a document other than a definition, audited; says whether it was created or updated."""
        before = self.repo.objects(kind).get(object_id)
        if kind == "ResourceType" and (names := redaction.newly_secret(before, spec)):
            redaction.redact(self, object_id, names, actor)
        self.repo.put_object(kind, object_id, spec, description, self.now())
        self.record(actor, "create" if before is None else "update", f"{kind}/{object_id}", audit.diff(before, spec))
        return "created" if before is None else "updated"

    def _take_ownership(self, document: Any, actor: str) -> None:
        """May ``actor`` change this document (its team's admins, platform admins)? Records a new owner."""
        key = (document.kind, document.metadata.id)
        before = self.repo.owners().get(key)
        after = document.metadata.team or before
        exists = (
            self.repo.definition(key[1]) if key[0] == "ResourceDefinition" else self.repo.objects(key[0]).get(key[1])
        )
        owners = (before, after) if exists is not None else (after,)
        organisation.check_owner(self.teams(), self.groups, self.admins, actor, "/".join(key), owners)
        if after is not None and after != before:
            self.repo.set_owner(*key, after)
            self.record(actor, "own", "/".join(key), {"before": before, "after": after})

    def _check_pin(self, pin: PinSpec) -> None:
        row = self.repo.version(pin.definition, pin.version)
        if row is None:
            raise CatalogError(f"pin names version {pin.version} of {pin.definition}, which does not exist")
        if row.state in ("proposed", "archived", "withdrawn"):
            raise CatalogError(f"cannot pin to version {pin.version} of {pin.definition}: it is {row.state}")

    # proposals ----------------------------------------------------------
    def propose(self, document: ResourceDefinition, actor: str, base_version: int | None = None) -> Change:
        """Propose a definition change (the API's and the dashboard's entry point)."""
        with self.transaction():
            self._take_ownership(document, actor)
            return self._propose(document, actor, base_version)

    def _propose(self, document: ResourceDefinition, actor: str, base_version: int | None = None) -> Change:
        spec, definition_id = document.spec, document.metadata.id
        latest = self.latest(definition_id)
        if base_version is not None and (latest.version if latest else 0) != base_version:
            current = latest.version if latest else 0
            raise CatalogError(
                f"the proposal for {definition_id} starts from version {base_version}, but the latest is {current}; "
                "reload and propose again",
                409,
            )
        digest = content_hash(spec)
        if latest is not None and latest.content_hash == digest:
            return self._describe(definition_id, document.metadata.description, actor, latest)
        warnings = self.validate_definition(definition_id, spec)
        self._ensure_definition(definition_id, document, latest)
        self._withdraw_pending(definition_id, actor)
        row = self._add_version(definition_id, spec, digest, actor, latest)
        self.record(
            actor, "propose", f"ResourceDefinition/{definition_id}@{row.version}", self._spec_diff(latest, spec)
        )
        self.announce("version.proposed", row.summary())
        detail = self._settle(row)
        return Change("ResourceDefinition", definition_id, "proposed" if latest else "created", detail, warnings)

    def _describe(self, definition_id: str, description: str | None, actor: str, latest: VersionRow) -> Change:
        """Same content: only the description may have changed, which needs no new version."""
        existing = self.repo.definition(definition_id) or {}
        detail = f"version {latest.version} ({latest.state})"
        if existing.get("description") == description:
            return Change("ResourceDefinition", definition_id, "unchanged", detail)
        self.repo.update_definition(definition_id, description, bool(existing.get("legacy")))
        change = {"description": {"before": existing.get("description"), "after": description}}
        self.record(actor, "update", f"ResourceDefinition/{definition_id}", change)
        return Change("ResourceDefinition", definition_id, "updated", f"description; {detail}")

    def _spec_diff(self, latest: VersionRow | None, spec: DefinitionSpec) -> dict[str, Any]:
        before = latest.spec.model_dump(mode="json", by_alias=True) if latest else None
        return audit.diff(before, spec.model_dump(mode="json", by_alias=True))

    def validate_definition(self, definition_id: str, spec: DefinitionSpec) -> list[str]:
        """Refuse a definition that cannot be stored; returns the warnings of policies that only warn."""
        rtype = self.resource_types().get(spec.type)
        if rtype is None:
            raise CatalogError(f"field spec.type: resource type {spec.type!r} is unknown")
        validate_params(spec.params, rtype, "spec.params")
        try:
            DRIVERS[spec.driver].check(spec, rtype)
        except DriverError as exc:
            raise CatalogError(f"field spec.outputs: {exc}") from None
        possible = self.candidates() + self.candidates(("proposed",))
        others = [c for c in possible if c.definition_id != definition_id]
        clashes = conflicts(Candidate(definition_id, spec.type, tuple(spec.criteria)), others)
        if clashes:
            raise CatalogError(f"field spec.criteria: {clashes[0]}")
        return self._policy_warnings(evaluate(self.policies(), spec))

    def _policy_warnings(self, results: list[PolicyResult]) -> list[str]:
        denied = [f"{r.policy_id}: {r.message}" for r in results if r.effect == "deny"]
        if denied:
            raise CatalogError(f"denied by policy {'; '.join(denied)}")
        return [f"{r.policy_id}: {r.message}" for r in results]

    def _ensure_definition(self, definition_id: str, document: ResourceDefinition, latest: VersionRow | None) -> None:
        existing = self.repo.definition(definition_id)
        if existing is None:
            self.repo.add_definition(
                definition_id, document.spec.type, document.metadata.description, document.spec.legacy, self.now()
            )
        elif existing["type"] != document.spec.type:
            raise CatalogError(
                f"field spec.type: {definition_id} is a {existing['type']} definition; types never change"
            )
        else:
            self.repo.update_definition(definition_id, document.metadata.description, document.spec.legacy)

    def _withdraw_pending(self, definition_id: str, actor: str) -> None:
        for row in self.repo.versions(definition_id, ("proposed",)):
            self.repo.set_state(definition_id, row.version, "withdrawn")
            self.record(actor, "withdraw", f"ResourceDefinition/{definition_id}@{row.version}", {})

    def _add_version(
        self, definition_id: str, spec: DefinitionSpec, digest: str, actor: str, latest: VersionRow | None
    ) -> VersionRow:
        row = VersionRow(
            definition_id, (latest.version if latest else 0) + 1, digest, spec, "proposed", actor, self.now(),
            None, None, None, None,
        )  # fmt: skip
        self.repo.add_version(row)
        return row

    def _settle(self, row: VersionRow) -> str:
        """Activate a proposal whose approval rules are met; otherwise say what it waits for."""
        missing = self.missing_approvals(row)
        if missing:
            self.announce("approval.requested", {**row.summary(), "missing": missing, "approvers": self.eligible(row)})
            return f"version {row.version} awaits approval: {'; '.join(missing)}"
        self._activate(row, SYSTEM_ACTOR)
        return f"version {row.version} is active"

    def _counted_approvals(self, row: VersionRow) -> approvals.Counted:
        approvers = self.repo.approvals(row.definition_id, row.version, row.content_hash)
        return approvals.count(required_approvals(self.approval_rules(), row.spec), approvers, self.groups)

    def eligible(self, row: VersionRow) -> list[str]:
        done = {row.proposed_by or "", *self.repo.approvals(row.definition_id, row.version, row.content_hash)}
        return approvals.eligible(self._counted_approvals(row), self.groups, done)

    def missing_approvals(self, row: VersionRow) -> list[str]:
        return approvals.missing(self._counted_approvals(row))

    def _activate(self, row: VersionRow, actor: str) -> None:
        now = self.now()
        previous = self.active(row.definition_id)
        if previous is not None:
            deadline = now + timedelta(days=self.deprecation_days)
            self.repo.set_state(
                previous.definition_id, previous.version, "deprecated", deprecated_at=now, deadline=deadline
            )
            self.record(actor, "deprecate", _ref(previous), {"deadline": deadline.isoformat()})
            self.announce("version.deprecated", {**previous.summary(), "deadline": deadline})
        self.repo.set_state(row.definition_id, row.version, "active", activated_at=now)
        self.record(actor, "activate", _ref(row), approvals.record(self._counted_approvals(row), row.content_hash))
        self.announce("version.activated", {**row.summary(), "state": "active", "activated_at": now})

    # approvals ----------------------------------------------------------
    def approve(self, definition_id: str, version: int, actor: str, content_hash_seen: str | None = None) -> str:
        """Record an approval bound to the version's content; activates when the rules are met. A KIND/ID
        names a governed change of another document (``governance``)."""
        with self.transaction():
            if "/" in definition_id:
                return governance.approve_change(self, definition_id, version, actor, content_hash_seen)
            row = self._pending(definition_id, version)
            if content_hash_seen is not None and content_hash_seen != row.content_hash:
                raise CatalogError("the version changed since you reviewed it; review it again", 409)
            if actor == row.proposed_by:
                raise CatalogError("you proposed this change; someone else must approve it", 403)
            self._check_approver(row, actor)
            if actor in self.repo.approvals(definition_id, version, row.content_hash):
                raise CatalogError(f"{actor} already approved version {version} of {definition_id}", 409)
            self.repo.add_approval(definition_id, version, row.content_hash, actor, self.now())
            self.record(actor, "approve", _ref(row), {"content_hash": row.content_hash})
            self.announce("version.approved", {**row.summary(), "approver": actor})
            return self._settle(row)

    def _pending(self, definition_id: str, version: int) -> VersionRow:
        row = self.repo.version(definition_id, version)
        if row is None:
            raise CatalogError(f"version {version} of {definition_id} does not exist", 404)
        if row.state != "proposed":
            raise CatalogError(f"version {version} of {definition_id} is {row.state}, not awaiting approval", 409)
        return row

    def _check_approver(self, row: VersionRow, actor: str) -> None:
        rules = required_approvals(self.approval_rules(), row.spec)
        if rules and not any(actor in self.groups.get(rule.group, set()) for rule in rules.values()):
            groups = ", ".join(sorted({rule.group for rule in rules.values()}))
            raise CatalogError(f"{actor} is not in {groups}, whose approval this change needs", 403)

    # lifecycle ------------------------------------------------------------
    def deprecate(self, definition_id: str, version: int, deadline: datetime, actor: str) -> None:
        with self.transaction():
            row = self._existing(definition_id, version)
            if row.state not in ("active", "deprecated"):
                raise CatalogError(f"version {version} of {definition_id} is {row.state}; only active ones deprecate")
            self.repo.set_state(definition_id, version, "deprecated", deprecated_at=self.now(), deadline=deadline)
            self.record(actor, "deprecate", _ref(row), {"deadline": deadline.isoformat()})
            self.announce("version.deprecated", {**row.summary(), "deadline": deadline})

    def archive(self, definition_id: str, version: int, actor: str) -> None:
        with self.transaction():
            row = self._existing(definition_id, version)
            if row.state != "deprecated":
                raise CatalogError(f"version {version} of {definition_id} is {row.state}; deprecate it first")
            self.repo.set_state(definition_id, version, "archived", archived_at=self.now())
            self.record(actor, "archive", _ref(row), {})

    def _existing(self, definition_id: str, version: int) -> VersionRow:
        row = self.repo.version(definition_id, version)
        if row is None:
            raise CatalogError(f"version {version} of {definition_id} does not exist", 404)
        return row

    # pins -----------------------------------------------------------------
    def expire_pins(self) -> list[str]:
        """Revert every expired pin to the active version; each reversion is audited."""
        now = self.now()
        expired = [pin_id for pin_id, pin in self.pins().items() if pin.expires <= now]
        if not expired:
            return []
        with self.transaction():
            for pin_id in expired:
                pin = self.pins()[pin_id]
                self.repo.delete_object("Pin", pin_id)
                self.record(SYSTEM_ACTOR, "pin-expired", f"Pin/{pin_id}", pin.model_dump(mode="json"))
                self.announce("pin.expired", {"pin": pin_id, **pin.model_dump(mode="json")})
        return expired

    def pin_for(self, app: str, env: str, workload: str, resource: str) -> PinSpec | None:
        for pin in self.pins().values():
            if (pin.app, pin.env, pin.workload, pin.resource) == (app, env, workload, resource):
                return pin
        return None

    # resolution -----------------------------------------------------------
    def explain(self, type_: str, class_: str, ctx: Context) -> Explanation:
        return explain(self.candidates(), type_, class_, ctx)

    def resolve(
        self,
        workload: Workload,
        app: str,
        env: str,
        env_type: str | None = None,
        record: bool = True,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Resolve every resource of a workload in ``env`` (of its registered type; ``env_type`` is only a
        check); records bindings, or misses and raises ResolveError. ``actor`` records only for its team's apps."""
        if record and actor is not None:  # only the app's team and platform admins record its bindings
            organisation.check_deployer(self.teams(), self.groups, self.admins, actor, app)
        env_type, warnings = self.environment_type(env, env_type)
        self.expire_pins()
        result = resolve_workload(self, workload, app, env, env_type)
        for binding in result.bindings:
            for denied in evaluate_deployed(self.policies(), binding.version.spec, binding.params, env_type):
                if denied.effect == "deny":
                    raise CatalogError(
                        f"resource {binding.resource}: denied by policy {denied.policy_id}: {denied.message}"
                    )
        if record:
            with self.transaction():
                result.record(self.repo, self.now())
        if result.misses:
            raise ResolveError("; ".join(m.message for m in result.misses))
        return {**result.as_json(), "env_type": env_type, "warnings": warnings}


def _ref(row: VersionRow) -> str:
    return f"ResourceDefinition/{row.definition_id}@{row.version}"


__all__ = [
    "Catalog",
    "CatalogError",
    "Change",
    "ResolveError",
    "content_hash",
    "secret_outputs_are_references",
    "validate_params",
]
