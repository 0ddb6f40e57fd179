"""Governance under four eyes: changes to approval rules, policies and other governed documents go through
propose and approve like definitions, and no single person can weaken a rule and ship past it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.catalog.conftest import (
    OUTPUTS,
    apply_docs,
    definition,
    document,
    environments,
    production_approval_rule,
    table_rows,
)
from trellis.catalog.api import run_operation
from trellis.catalog.integrity import state_problems
from trellis.catalog.operations import OPERATIONS
from trellis.catalog.service import Catalog, CatalogError

GOVERNANCE = document(
    "ApprovalRule",
    "catalog-governance",
    {"match": {"kinds": ["ApprovalRule", "Policy", "Environment"]}, "approvals": 2, "group": "platform-admins"},
)
BACKUPS = document(
    "Policy",
    "prod-backups",
    {"match": {"type": "postgres", "env_type": "production"},
     "rule": {"path": "params.backup_retention_days", "op": "gte", "value": 7}, "message": "keep 7 days"},
)  # fmt: skip


def prod_db(host: str) -> dict[str, Any]:
    return definition(
        "pg-prod",
        criteria=[{"env_type": "production"}],
        outputs={**OUTPUTS["postgres"], "host": host},
        params={"backup_retention_days": 14},
    )


@pytest.fixture
def governed(catalog: Catalog) -> Catalog:
    """production-changes (2 of platform-admins) guards pg-prod v1, which alice proposed and bob and carol approved."""
    apply_docs(catalog, *environments(), production_approval_rule(), BACKUPS, actor="alice")
    apply_docs(catalog, prod_db("v1"), actor="alice")
    catalog.approve("pg-prod", 1, "bob")
    catalog.approve("pg-prod", 1, "carol")
    return catalog


def test_one_admin_cannot_weaken_a_rule_and_ship_an_unapproved_production_change(governed: Catalog) -> None:
    """The finding: one apply changed the rule's match to a type that does not exist and activated a production
    definition at once."""
    weakened = document(
        "ApprovalRule",
        "production-changes",
        {"match": {"type": "no-such-type"}, "approvals": 2, "group": "platform-admins"},
    )

    changes = apply_docs(governed, weakened, prod_db("v2"), actor="alice")

    assert [(c.kind, c.action) for c in changes] == [("ApprovalRule", "proposed"), ("ResourceDefinition", "proposed")]
    assert changes[0].detail == "change 1 awaits approval: production-changes needs 2 more from platform-admins"
    assert governed.approval_rules()["production-changes"].match.env_type == "production", "the rule still holds"
    assert governed.active("pg-prod").version == 1  # type: ignore[union-attr]
    assert "awaits approval" in changes[1].detail


def test_a_rule_change_takes_effect_once_the_rules_own_approvers_sign_off(governed: Catalog) -> None:
    stricter = production_approval_rule(approvals=3)
    apply_docs(governed, stricter, actor="alice")

    with pytest.raises(CatalogError, match="you proposed this change; someone else must approve it"):
        governed.approve("ApprovalRule/production-changes", 1, "alice")
    with pytest.raises(CatalogError, match="dave is not in platform-admins"):
        governed.approve("ApprovalRule/production-changes", 1, "dave")
    first = governed.approve("ApprovalRule/production-changes", 1, "bob")
    second = governed.approve("ApprovalRule/production-changes", 1, "carol")

    assert first == "change 1 awaits approval: production-changes needs 1 more from platform-admins"
    assert second == "change 1 is applied"
    assert governed.approval_rules()["production-changes"].approvals == 3
    assert state_problems(governed.repo) == []


def test_a_governance_rule_guards_policies_and_cannot_be_changed_alone_either(governed: Catalog) -> None:
    apply_docs(governed, GOVERNANCE, actor="alice")  # a new rule only adds sign-offs: it applies at once
    relaxed = {**BACKUPS, "spec": {**BACKUPS["spec"], "rule": {**BACKUPS["spec"]["rule"], "value": 0}}}
    governance_off = document(
        "ApprovalRule", "catalog-governance", {"match": {"kinds": ["Pin"]}, "approvals": 1, "group": "platform-admins"}
    )

    changes = apply_docs(governed, relaxed, governance_off, actor="alice")

    assert [(c.kind, c.id, c.action) for c in changes] == [
        ("Policy", "prod-backups", "proposed"),
        ("ApprovalRule", "catalog-governance", "proposed"),
    ]
    assert governed.policies()["prod-backups"].rule.value == 7
    assert "catalog-governance" in changes[1].detail


def test_pending_lists_rule_changes_with_their_fields_and_who_is_missing(governed: Catalog) -> None:
    apply_docs(governed, production_approval_rule(approvals=3), actor="alice")

    pending = run_operation(governed, OPERATIONS["pending"], "bob", {})["pending"]

    [change] = [p for p in pending if p["definition"] == "ApprovalRule/production-changes"]
    assert (change["version"], change["proposed_by"], change["kind"]) == (1, "alice", "ApprovalRule")
    assert change["fields"] == [{"field": "approvals", "before": 2, "after": 3}]
    assert change["missing"] == ["production-changes needs 2 more from platform-admins"]


def test_a_proposal_replaced_before_approval_is_withdrawn(governed: Catalog) -> None:
    apply_docs(governed, production_approval_rule(approvals=3), actor="alice")
    apply_docs(governed, production_approval_rule(approvals=4), actor="alice")

    with pytest.raises(CatalogError, match="change 1 of ApprovalRule/production-changes is withdrawn"):
        governed.approve("ApprovalRule/production-changes", 1, "bob")
    governed.approve("ApprovalRule/production-changes", 2, "bob")
    governed.approve("ApprovalRule/production-changes", 2, "carol")

    assert governed.approval_rules()["production-changes"].approvals == 4


def test_without_any_governing_rule_documents_apply_at_once(catalog: Catalog) -> None:
    changes = apply_docs(catalog, BACKUPS, actor="alice")
    relaxed = {**BACKUPS, "spec": {**BACKUPS["spec"], "message": "seven days"}}
    again = apply_docs(catalog, relaxed, actor="alice")

    assert [c.action for c in changes + again] == ["created", "updated"]


def test_a_refused_proposal_changes_nothing(governed: Catalog) -> None:
    before = table_rows(governed.con)

    with pytest.raises(CatalogError):
        apply_docs(governed, production_approval_rule(approvals=3), definition("bad", type_="nope"), actor="alice")

    assert table_rows(governed.con) == before


def test_verify_names_a_governed_change_whose_state_was_changed_behind_the_log(governed: Catalog) -> None:
    apply_docs(governed, production_approval_rule(approvals=3), actor="alice")
    apply_docs(governed, production_approval_rule(approvals=4), actor="alice")  # withdraws change 1
    assert state_problems(governed.repo) == []

    governed.con.execute("UPDATE catalog_changes SET state = 'proposed' WHERE version = 1")
    governed.con.execute(
        "INSERT INTO catalog_changes SELECT kind, id, 9, content_hash, spec, description, 'proposed', 'mallory', "
        "proposed_at, NULL FROM catalog_changes WHERE version = 2"
    )

    assert state_problems(governed.repo) == [
        "change 1 of ApprovalRule/production-changes is proposed but the log says withdrawn",
        "change 9 of ApprovalRule/production-changes is in the catalog but the log never proposed it",
    ]
