"""Policies and approval rules: which definitions they concern, and what they say about them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.catalog.conftest import apply_docs, definition, document
from trellis.catalog.models import ApprovalRuleSpec, DefinitionSpec, PolicySpec
from trellis.catalog.policies import applies, can_match_env_type, evaluate, lookup, required_approvals
from trellis.catalog.service import Catalog, CatalogError

SPEC = DefinitionSpec.model_validate(
    {
        "type": "postgres",
        "driver": "static",
        "params": {"backup_retention_days": 14, "version": "16.2", "size": "large", "high_availability": True},
        "criteria": [{"env_type": "production"}, {"app_id": "shop", "class": "large"}],
    }
)


def policy(path: str, op: str, value: Any = None, **match: str) -> dict[str, PolicySpec]:
    spec = {"match": match, "rule": {"path": path, "op": op, "value": value}, "message": f"{path} {op} {value}"}
    return {"p": PolicySpec.model_validate(spec)}


@pytest.mark.parametrize(
    ("path", "op", "holds", "breaks"),
    [
        ("params.backup_retention_days", "eq", 14, 7),
        ("params.backup_retention_days", "ne", 7, 14),
        ("params.backup_retention_days", "gt", 13, 14),
        ("params.backup_retention_days", "gte", 14, 15),
        ("params.backup_retention_days", "lt", 15, 14),
        ("params.backup_retention_days", "lte", 14, 13),
        ("params.size", "in", ["small", "large"], ["small"]),
        ("params.size", "not_in", ["xlarge"], ["large"]),
        ("params.version", "matches", r"16\.\d+", r"15\.\d+"),
        ("params.high_availability", "eq", True, False),
        ("driver", "eq", "static", "template"),
        ("params.size", "exists", None, None),
    ],
)
def test_each_operator_passes_when_the_rule_holds_and_fails_when_it_does_not(
    path: str, op: str, holds: Any, breaks: Any
) -> None:
    assert evaluate(policy(path, op, holds), SPEC) == []
    if op != "exists":
        failed = evaluate(policy(path, op, breaks), SPEC)
        assert [(r.policy_id, r.effect, r.message) for r in failed] == [("p", "deny", f"{path} {op} {breaks}")]


def test_missing_values() -> None:
    assert evaluate(policy("params.storage", "exists"), SPEC) != []
    assert evaluate(policy("params.storage", "absent"), SPEC) == []
    assert evaluate(policy("params.size", "absent"), SPEC) != []
    # a missing value breaks every comparison except ne and not_in
    assert evaluate(policy("params.storage", "gte", 1), SPEC) != []
    assert evaluate(policy("params.storage", "eq", None), SPEC) != []
    assert evaluate(policy("params.storage", "ne", 1), SPEC) == []
    assert evaluate(policy("params.storage", "not_in", [1]), SPEC) == []


def test_a_comparison_between_incompatible_values_breaks_the_rule() -> None:
    assert evaluate(policy("params.size", "gt", 3), SPEC) != []


def test_lookup_follows_dotted_paths_into_the_spec() -> None:
    assert lookup(SPEC, "params.backup_retention_days") == 14
    assert lookup(SPEC, "criteria") == [
        {"class": "default", "env_type": "production", "app_id": None, "env_id": None, "res_id": None},
        {"class": "large", "env_type": None, "app_id": "shop", "env_id": None, "res_id": None},
    ]


def test_a_policy_concerns_only_its_type() -> None:
    assert evaluate(policy("params.memory_mb", "exists", type="redis"), SPEC) == []
    assert evaluate(policy("params.memory_mb", "exists", type="postgres"), SPEC) != []


@pytest.mark.parametrize(
    ("criteria", "production"),
    [
        ([{"env_type": "production"}], True),
        ([{"env_type": "development"}], False),
        ([{"app_id": "shop"}], True),  # no env_type: it could serve production
        ([{}], True),
        ([{"env_type": "development"}, {"env_id": "prod-eu"}], True),
        ([], False),
    ],
)
def test_env_type_matching_means_the_criteria_can_match_that_env_type(
    criteria: list[dict[str, str]], production: bool
) -> None:
    spec = DefinitionSpec.model_validate({"type": "postgres", "driver": "static", "criteria": criteria})

    assert can_match_env_type(spec, "production") is production
    assert (evaluate(policy("params.size", "exists", env_type="production"), spec) != []) is production


def test_required_approvals_are_the_rules_whose_match_applies() -> None:
    rules = {
        "prod": ApprovalRuleSpec.model_validate({"match": {"env_type": "production"}, "approvals": 2, "group": "a"}),
        "redis": ApprovalRuleSpec.model_validate({"match": {"type": "redis"}, "group": "b"}),
        "all": ApprovalRuleSpec.model_validate({"group": "c"}),
    }
    dev = DefinitionSpec.model_validate({"type": "postgres", "driver": "static", "criteria": [{"env_type": "dev"}]})

    assert list(required_approvals(rules, SPEC)) == ["all", "prod"]
    assert list(required_approvals(rules, dev)) == ["all"]
    assert applies(rules["redis"].match, SPEC) is False


def test_an_approval_rule_needs_at_least_one_approval() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        ApprovalRuleSpec.model_validate({"approvals": 0, "group": "a"})


def test_deny_policies_refuse_a_definition_and_name_every_broken_policy(catalog: Catalog) -> None:
    apply_docs(
        catalog,
        document("Policy", "backups", {"match": {"type": "postgres"},
                 "rule": {"path": "params.backup_retention_days", "op": "gte", "value": 7}, "message": "keep 7 days"}),
        document("Policy", "ha-in-prod", {"match": {"env_type": "production"},
                 "rule": {"path": "params.high_availability", "op": "eq", "value": True}, "message": "HA in prod"}),
    )  # fmt: skip

    with pytest.raises(CatalogError) as caught:
        apply_docs(
            catalog, definition("db", criteria=[{"env_type": "production"}], params={"backup_retention_days": 1})
        )

    assert "denied by policy backups: keep 7 days; ha-in-prod: HA in prod" in str(caught.value)
    dev = definition("dev-db", criteria=[{"env_type": "development"}], params={"backup_retention_days": 7})
    assert apply_docs(catalog, dev)[0].action == "created"


def test_a_policy_applies_to_later_changes_not_to_stored_versions(catalog: Catalog) -> None:
    apply_docs(catalog, definition("db", params={"backup_retention_days": 1}))
    apply_docs(
        catalog,
        document("Policy", "backups", {"rule": {"path": "params.backup_retention_days", "op": "gte", "value": 7},
                                       "message": "keep 7 days"}),
    )  # fmt: skip

    assert catalog.active("db").version == 1  # type: ignore[union-attr]
    with pytest.raises(CatalogError, match="denied by policy backups"):
        apply_docs(catalog, definition("db", params={"backup_retention_days": 2}))
