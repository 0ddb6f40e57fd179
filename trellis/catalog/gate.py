"""The deployment gate: allow or deny a workload's deployment, with the reasons, before it happens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trellis.catalog.matching import explain
from trellis.catalog.policies import evaluate_deployed
from trellis.catalog.resolution import Binding, Miss, context_for, resolve_workload
from trellis.catalog.score import Workload

if TYPE_CHECKING:
    from trellis.catalog.service import Catalog


@dataclass
class Decision:
    allow: bool
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    env_type: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"decision": "allow" if self.allow else "deny", "reasons": self.reasons, "warnings": self.warnings}


def check(catalog: Catalog, workload: Workload, app: str, env: str, env_type: str | None = None) -> Decision:
    """Deny on a deprecated version past its deadline, an archived one, a needed pending change, or a policy.

    ``env`` is judged as of its registered type; ``env_type`` is only a check of it."""
    env_type, warnings = catalog.environment_type(env, env_type)
    catalog.expire_pins()
    resolution = resolve_workload(catalog, workload, app, env, env_type)
    reasons: list[str] = []
    for miss in resolution.misses:
        reasons.append(_miss_reason(catalog, workload, app, env, env_type, miss))
    now = catalog.now()
    for binding in resolution.bindings:
        reasons.extend(_version_reasons(binding, now))
        for result in evaluate_deployed(catalog.policies(), binding.version.spec, binding.params, env_type):
            text = f"resource {binding.resource}: policy {result.policy_id}: {result.message}"
            (reasons if result.effect == "deny" else warnings).append(text)
    return Decision(not reasons, reasons, warnings, env_type)


def _version_reasons(binding: Binding, now: Any) -> list[str]:
    version = binding.version
    where = f"resource {binding.resource}: {version.definition_id} version {version.version}"
    if version.state == "archived":
        return [f"{where} is archived"]
    if version.state == "deprecated" and version.deadline is not None and version.deadline < now:
        return [f"{where} is deprecated and its deadline {version.deadline:%Y-%m-%d} has passed"]
    return []


def _miss_reason(catalog: Catalog, workload: Workload, app: str, env: str, env_type: str, miss: Miss) -> str:
    resource = workload.resources[miss.resource]
    ctx = context_for(workload, miss.resource, resource, app, env, env_type)
    pending = explain(catalog.candidates(("proposed",)), miss.type, miss.class_, ctx).winner
    if pending is None:
        return miss.message
    waiting = catalog.repo.versions(pending.definition_id, ("proposed",))[-1]
    return (
        f"resource {miss.resource}: needs version {waiting.version} of {pending.definition_id}, which awaits approval"
    )
