"""Blast radius: what a proposed definition change does to the consumers bound today.

For each consumer (the latest binding of every app, env, workload and resource) two questions are
asked: what would it resolve to today, and what would it resolve to if the proposed documents were
active? A consumer is affected when the answers differ in any way that reaches it: another definition
(or none), other params, another driver, other outputs. Params and outputs are diffed apart.

What a consumer resolves to today may already differ from what it recorded at its last deployment,
because of other changes activated since: such moves are listed apart, as ``pending``, never as if
this change caused them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from trellis.catalog import audit
from trellis.catalog.drivers import DriverError
from trellis.catalog.matching import Candidate, Context, explain
from trellis.catalog.models import DefinitionSpec, PinSpec, ResourceDefinition, ResourceTypeSpec
from trellis.catalog.resolution import render_outputs

if TYPE_CHECKING:
    from trellis.catalog.repository import VersionRow
    from trellis.catalog.service import Catalog


@dataclass(frozen=True)
class Target:
    """What a consumer resolves to: a definition and its version (None for the proposed one)."""

    definition: str | None = None
    version: int | None = None
    spec: DefinitionSpec | None = None
    pinned: bool = False


@dataclass
class _Lookup:
    """The catalog's pins, versions and types, each read once per plan: a plan asks about every consumer,
    and the answers cannot change while the operation's snapshot lasts."""

    catalog: Catalog
    pins: dict[tuple[str, str, str, str], PinSpec] = field(init=False)
    types: dict[str, ResourceTypeSpec] = field(init=False)
    _current: dict[str, VersionRow | None] = field(default_factory=dict)
    _versions: dict[tuple[str, int], VersionRow | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pins = {(p.app, p.env, p.workload, p.resource): p for p in self.catalog.pins().values()}
        self.types = self.catalog.resource_types()

    def current(self, definition_id: str) -> VersionRow | None:
        if definition_id not in self._current:
            self._current[definition_id] = self.catalog.current(definition_id)
        return self._current[definition_id]

    def version(self, definition_id: str, version: int) -> VersionRow | None:
        key = (definition_id, version)
        if key not in self._versions:
            self._versions[key] = self.catalog.repo.version(definition_id, version)
        return self._versions[key]


def plan(catalog: Catalog, documents: list[ResourceDefinition]) -> dict[str, Any]:
    """Every consumer ``documents`` would change, the moves already pending, and their counts."""
    proposed = {doc.metadata.id: doc.spec for doc in documents}
    today = catalog.candidates()
    after = {c.definition_id: c for c in today}
    after.update({d: Candidate(d, spec.type, tuple(spec.criteria)) for d, spec in proposed.items()})
    lookup = _Lookup(catalog)
    consumers, pending = [], []
    for binding in catalog.repo.latest_bindings():
        now = _target(lookup, binding, today, {})
        then = _target(lookup, binding, list(after.values()), proposed)
        if (now.definition, now.version) != (binding["definition_id"], binding["version"]):
            pending.append(_pending(binding, now))
        change = _change(lookup, binding, now, then)
        if change is not None:
            consumers.append(change)
    owners = {app: team_id for team_id, team in catalog.teams().items() for app in team.apps}
    return {"consumers": consumers, "pending": pending, "summary": summary(consumers, pending, owners)}


def summary(
    consumers: list[dict[str, Any]], pending: list[dict[str, Any]], owners: dict[str, str] | None = None
) -> dict[str, int]:
    """The counts; ``teams`` counts the teams that own the consumers' apps (``owners``: app to team)."""
    owners = owners or {}
    return {
        "consumers": len(consumers),
        "apps": len({c["app"] for c in consumers}),
        "teams": len({owners[c["app"]] for c in consumers if c["app"] in owners}),
        "environments": len({c["env"] for c in consumers}),
        "moves": sum(1 for c in consumers if c["change"] in ("moves", "unmatched")),
        "pending": len(pending),
    }


def _context(binding: dict[str, Any]) -> Context:
    return Context(binding["app"], binding["env"], binding["env_type"] or "", binding["res_id"], binding["workload"])


def _target(
    lookup: _Lookup, binding: dict[str, Any], candidates: list[Candidate], proposed: dict[str, DefinitionSpec]
) -> Target:
    winner = explain(candidates, binding["type"], binding["class"], _context(binding)).winner
    if winner is None:
        return Target()
    definition_id = winner.definition_id
    pin = lookup.pins.get((binding["app"], binding["env"], binding["workload"], binding["resource"]))
    pinned = lookup.version(definition_id, pin.version) if pin and pin.definition == definition_id else None
    if pinned is not None:
        return Target(definition_id, pinned.version, pinned.spec, pinned=True)
    if definition_id in proposed:
        return Target(definition_id, None, proposed[definition_id])
    current = lookup.current(definition_id)
    assert current is not None, "a matching candidate always has a current version"
    return Target(definition_id, current.version, current.spec)


def _where(binding: dict[str, Any]) -> dict[str, Any]:
    return {key: binding[key] for key in ("app", "env", "workload", "resource")}


def _pending(binding: dict[str, Any], now: Target) -> dict[str, Any]:
    return {**_where(binding), "recorded_definition": binding["definition_id"], "recorded_version": binding["version"],
            "definition": now.definition, "version": now.version}  # fmt: skip


def _change(lookup: _Lookup, binding: dict[str, Any], now: Target, then: Target) -> dict[str, Any] | None:
    base = {**_where(binding), "definition_before": now.definition, "version_before": now.version,
            "definition_after": then.definition, "version_after": then.version, "pinned": now.pinned,
            "params": {}, "outputs": {}, "driver": {}}  # fmt: skip
    if now.definition != then.definition:
        return {**base, "change": "moves" if then.definition else "unmatched"}
    if now.spec is None or then.spec is None or now.spec == then.spec:
        return None
    workload_params = orjson.loads(binding["params"])
    params = audit.diff({**now.spec.params, **workload_params}, {**then.spec.params, **workload_params})
    driver = audit.diff(now.spec.driver, then.spec.driver) if now.spec.driver != then.spec.driver else {}
    try:
        outputs = audit.diff(_outputs(lookup, now.spec, binding), _outputs(lookup, then.spec, binding))
    except DriverError as exc:
        return {**base, "change": "error", "params": params, "driver": driver, "error": str(exc)}
    if not (params or driver or outputs):
        return None  # only criteria or descriptions changed: what this consumer gets stays the same
    return {**base, "change": "changes", "params": params, "outputs": outputs, "driver": driver}


def _outputs(lookup: _Lookup, spec: DefinitionSpec, binding: dict[str, Any]) -> dict[str, Any]:
    rtype = lookup.types.get(spec.type)
    if rtype is None:
        raise DriverError(f"resource type {spec.type} is unknown")
    return render_outputs(spec, rtype, _context(binding), orjson.loads(binding["params"]))


__all__ = ["Target", "plan", "summary"]
