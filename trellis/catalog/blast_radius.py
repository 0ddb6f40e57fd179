"""Blast radius: what a proposed definition change does to the consumers bound today.

For every consumer's latest binding, matching is run again with the proposed
criteria in place: a consumer that would move to another definition is
listed, and so is one whose outputs would change at its next deployment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from trellis.catalog import audit
from trellis.catalog.drivers import DriverError
from trellis.catalog.matching import Candidate, Context, explain
from trellis.catalog.models import ResourceDefinition
from trellis.catalog.resolution import render_outputs

if TYPE_CHECKING:
    from trellis.catalog.service import Catalog


def plan(catalog: Catalog, documents: list[ResourceDefinition]) -> list[dict[str, Any]]:
    """Every (app, env, workload, resource) whose binding changes if ``documents`` become active."""
    candidates = {c.definition_id: c for c in catalog.candidates()}
    for doc in documents:
        candidates[doc.metadata.id] = Candidate(doc.metadata.id, doc.spec.type, tuple(doc.spec.criteria))
    proposed = {doc.metadata.id: doc for doc in documents}
    impact = []
    for binding in catalog.repo.latest_bindings():
        change = _consumer_change(catalog, binding, list(candidates.values()), proposed)
        if change is not None:
            impact.append(change)
    return impact


def _consumer_change(
    catalog: Catalog, binding: dict[str, Any], candidates: list[Candidate], proposed: dict[str, ResourceDefinition]
) -> dict[str, Any] | None:
    ctx = Context(binding["app"], binding["env"], binding["env_type"] or "", binding["res_id"], binding["workload"])
    winner = explain(candidates, binding["type"], binding["class"], ctx).winner
    after = winner.definition_id if winner else None
    before = binding["definition_id"]
    base = {key: binding[key] for key in ("app", "env", "workload", "resource")}
    base.update(definition_before=before, version_before=binding["version"], definition_after=after)
    if after != before:
        return {**base, "change": "moves" if after else "unmatched", "outputs": {}}
    if after not in proposed:
        return None
    spec = proposed[after].spec
    rtype = catalog.resource_types().get(spec.type)
    if rtype is None:
        return None
    try:
        outputs = render_outputs(spec, rtype, ctx, orjson.loads(binding["params"]))
    except DriverError as exc:
        return {**base, "change": "error", "outputs": {}, "error": str(exc)}
    changed = audit.diff(orjson.loads(binding["outputs"]), outputs)
    return {**base, "change": "outputs", "outputs": changed} if changed else None
