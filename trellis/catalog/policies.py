"""Policies and approval rules: which definitions they concern, and what they say about them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from trellis.catalog.models import ApprovalRuleSpec, DefinitionSpec, PolicyMatch, PolicySpec

_MISSING = object()


@dataclass
class PolicyResult:
    policy_id: str
    effect: str
    message: str


def can_match_env_type(spec: DefinitionSpec, env_type: str) -> bool:
    """True when some rule of the definition could serve an environment of ``env_type``."""
    return any(rule.env_type in (None, env_type) for rule in spec.criteria)


def applies(match: PolicyMatch, spec: DefinitionSpec) -> bool:
    if match.type is not None and match.type != spec.type:
        return False
    return match.env_type is None or can_match_env_type(spec, match.env_type)


def lookup(spec: DefinitionSpec, path: str) -> Any:
    """The value at a dotted path of the definition spec, or _MISSING."""
    value: Any = spec.model_dump(by_alias=True)
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "exists":
        return actual is not _MISSING
    if op == "absent":
        return actual is _MISSING
    if actual is _MISSING:
        return op in ("ne", "not_in")
    try:
        return _OPS[op](actual, expected)
    except TypeError:
        return False


_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "matches": lambda a, b: re.fullmatch(str(b), str(a)) is not None,
}


def evaluate(policies: dict[str, PolicySpec], spec: DefinitionSpec) -> list[PolicyResult]:
    """The policies a definition breaks, each with its effect and message."""
    failed = []
    for policy_id, policy in sorted(policies.items()):
        if applies(policy.match, spec) and not _compare(
            policy.rule.op, lookup(spec, policy.rule.path), policy.rule.value
        ):
            failed.append(PolicyResult(policy_id, policy.effect, policy.message))
    return failed


def evaluate_deployed(
    policies: dict[str, PolicySpec], spec: DefinitionSpec, workload_params: dict[str, Any], env_type: str
) -> list[PolicyResult]:
    """The policies a deployment breaks: the definition with the workload's params over its own, in an
    environment of ``env_type``. What deploys is judged, so a workload cannot override its way around a rule."""
    effective = spec.model_copy(update={"params": {**spec.params, **workload_params}})
    failed = []
    for policy_id, policy in sorted(policies.items()):
        match, rule = policy.match, policy.rule
        if match.type not in (None, spec.type) or match.env_type not in (None, env_type):
            continue
        if not _compare(rule.op, lookup(effective, rule.path), rule.value):
            failed.append(PolicyResult(policy_id, policy.effect, policy.message + _set_by(rule.path, workload_params)))
    return failed


def _set_by(path: str, workload_params: dict[str, Any]) -> str:
    head, _, key = path.partition(".")
    if head != "params" or key.split(".")[0] not in workload_params:
        return ""
    top = key.split(".")[0]
    return f" (the workload sets {top}: {workload_params[top]!r})"


def required_approvals(rules: dict[str, ApprovalRuleSpec], spec: DefinitionSpec) -> dict[str, ApprovalRuleSpec]:
    """The approval rules a change to this definition must satisfy."""
    return {
        rule_id: rule
        for rule_id, rule in sorted(rules.items())
        if "ResourceDefinition" in rule.match.kinds and applies(rule.match, spec)
    }
