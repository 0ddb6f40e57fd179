"""Resolving a workload: each resource to a definition, a version (active or pinned) and outputs.

Resolution reads the catalog through ``CatalogView``, the few lookups it needs, rather than importing
``Catalog``: the catalog resolves through this module, so this module cannot import the catalog back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from trellis.catalog.drivers import DRIVERS, DriverError, secret_outputs_are_references
from trellis.catalog.errors import CatalogError
from trellis.catalog.matching import Candidate, Context, explain
from trellis.catalog.models import DefinitionSpec, PinSpec, ResourceTypeSpec
from trellis.catalog.params import validate_params
from trellis.catalog.repository import Repository, VersionRow
from trellis.catalog.score import ScoreResource, Workload, res_id


class CatalogView(Protocol):
    """What resolving reads from the catalog; ``Catalog`` is one."""

    @property
    def repo(self) -> Repository:
        """The catalog's tables; resolution reads pinned versions from them."""

    def candidates(self) -> list[Candidate]:
        """One matching candidate per definition, from its current version."""

    def current(self, definition_id: str) -> VersionRow | None:
        """The version consumers get: the active one, or the newest deprecated one while none is active."""

    def pin_for(self, app: str, env: str, workload: str, resource: str) -> PinSpec | None:
        """The pin of one resource of a workload in one environment, if any."""

    def resource_types(self) -> dict[str, ResourceTypeSpec]:
        """Every resource type by name, the built-in ones included."""


@dataclass
class Binding:
    resource: str
    res_id: str
    type: str
    class_: str
    params: dict[str, Any]
    version: VersionRow
    pinned: bool
    outputs: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "class": self.class_,
            "definition": self.version.definition_id,
            "version": self.version.version,
            "outputs": self.outputs,
        }


@dataclass
class Miss:
    resource: str
    type: str
    class_: str
    message: str


@dataclass
class Resolution:
    workload: str
    app: str
    env: str
    env_type: str
    bindings: list[Binding] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "app": self.app,
            "env": self.env,
            "resources": {b.resource: b.as_json() for b in self.bindings},
        }

    def record(self, repo: Repository, at: datetime) -> None:
        for b in self.bindings:
            repo.add_binding(
                [self.workload, self.app, self.env, self.env_type, b.resource, b.res_id, b.type, b.class_,
                 orjson.dumps(b.params).decode(), b.version.definition_id, b.version.version, b.pinned,
                 orjson.dumps(b.outputs).decode(), at]
            )  # fmt: skip
        for m in self.misses:
            repo.add_miss(
                [self.workload, self.app, self.env, self.env_type, m.resource, m.type, m.class_, m.message, at]
            )


def context_for(workload: Workload, name: str, resource: ScoreResource, app: str, env: str, env_type: str) -> Context:
    return Context(app_id=app, env_id=env, env_type=env_type, res_id=res_id(workload.name, name, resource),
                   workload=workload.name)  # fmt: skip


def resolve_workload(catalog: CatalogView, workload: Workload, app: str, env: str, env_type: str) -> Resolution:
    """Resolve without writing anything."""
    result = Resolution(workload.name, app, env, env_type)
    candidates = catalog.candidates()
    for name, resource in sorted(workload.resources.items()):
        class_ = resource.class_ or "default"
        ctx = context_for(workload, name, resource, app, env, env_type)
        winner = explain(candidates, resource.type, class_, ctx).winner
        if winner is None:
            result.misses.append(Miss(name, resource.type, class_, _miss_message(name, resource.type, class_, ctx)))
            continue
        result.bindings.append(_bind(catalog, workload, name, resource, class_, ctx, winner.definition_id))
    return result


def _miss_message(name: str, type_: str, class_: str, ctx: Context) -> str:
    return (
        f"resource {name}: no definition of type {type_} and class {class_} matches "
        f"app {ctx.app_id}, env {ctx.env_id} ({ctx.env_type}), res_id {ctx.res_id}"
    )


def _bind(
    catalog: CatalogView, workload: Workload, name: str, resource: ScoreResource, class_: str, ctx: Context,
    definition_id: str,
) -> Binding:  # fmt: skip
    pin = catalog.pin_for(ctx.app_id, ctx.env_id, workload.name, name)
    version = catalog.repo.version(definition_id, pin.version) if pin and pin.definition == definition_id else None
    pinned = version is not None
    if version is None:
        version = catalog.current(definition_id)
    assert version is not None, "a matching candidate always has a current version"
    rtype = catalog.resource_types()[version.spec.type]
    validate_params({**version.spec.params, **resource.params}, rtype, f"resources.{name}.params")
    try:
        outputs = render_outputs(version.spec, rtype, ctx, resource.params)
    except DriverError as exc:
        raise CatalogError(f"resource {name}: definition {definition_id}: {exc}") from None
    return Binding(name, ctx.res_id, resource.type, class_, resource.params, version, pinned, outputs)


def render_outputs(
    spec: DefinitionSpec, rtype: ResourceTypeSpec, ctx: Context, workload_params: dict[str, Any]
) -> dict[str, Any]:
    """A definition version's outputs for one context; secrets stay references."""
    outputs = DRIVERS[spec.driver].outputs(spec, ctx, {**spec.params, **workload_params})
    secret_outputs_are_references(outputs, rtype)
    return outputs


__all__ = [
    "Binding",
    "CatalogView",
    "Miss",
    "Resolution",
    "context_for",
    "render_outputs",
    "resolve_workload",
]
