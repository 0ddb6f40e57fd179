"""Counting approvals against the rules that govern a change: one reckoning for definitions' versions and
for governed changes of other documents (``governance``)."""

from __future__ import annotations

from typing import Any

from trellis.catalog.models import ApprovalRuleSpec

SYSTEM_ACTOR = "trellis"
"""The actor of what the catalog does by itself: activations, applied changes, expired pins."""

Counted = dict[str, tuple[ApprovalRuleSpec, list[str]]]
"""Per governing rule: the rule, and the approvers of the content who are members of its group."""


def count(rules: dict[str, ApprovalRuleSpec], approvers: list[str], groups: dict[str, set[str]]) -> Counted:
    return {
        rule_id: (rule, [a for a in approvers if a in groups.get(rule.group, set())]) for rule_id, rule in rules.items()
    }


def missing(counted: Counted) -> list[str]:
    """What each rule still lacks, as a sentence."""
    return [
        f"{rule_id} needs {rule.approvals - len(approved)} more from {rule.group}"
        for rule_id, (rule, approved) in counted.items()
        if len(approved) < rule.approvals
    ]


def eligible(counted: Counted, groups: dict[str, set[str]], done: set[str]) -> list[str]:
    """Who can still bring the change closer: members of a short rule's group, none of ``done`` (the
    proposer and who approved already)."""
    short = [rule for rule, approved in counted.values() if len(approved) < rule.approvals]
    return sorted({member for rule in short for member in groups.get(rule.group, set())} - done)


def record(counted: Counted, content_hash: str) -> dict[str, Any]:
    """What the audit keeps when a change takes effect: its content, and the rules and approvals that let it."""
    return {
        "content_hash": content_hash,
        "rules": {
            rule_id: {"approvals": rule.approvals, "group": rule.group} for rule_id, (rule, _) in counted.items()
        },
        "approvals": {rule_id: approved for rule_id, (_, approved) in counted.items()},
    }


__all__ = ["SYSTEM_ACTOR", "Counted", "count", "eligible", "missing", "record"]
