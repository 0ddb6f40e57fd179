"""The organisation model: teams own apps, and only a team's members (and platform admins) deploy them."""

from __future__ import annotations

import pytest

from tests.catalog.conftest import (
    GROUPS,
    OUTPUTS,
    apply_docs,
    definition,
    document,
    new_catalog,
    score,
    table_rows,
)
from trellis.catalog.api import run_operation
from trellis.catalog.models import TeamSpec
from trellis.catalog.operations import OPERATIONS
from trellis.catalog.organisation import check_deployer
from trellis.catalog.service import Catalog, CatalogError

TEAMS = [
    document("Team", "payments", {"name": "Payments", "apps": ["payments"], "members": ["team-payments"]}),
    document("Team", "shop", {"apps": ["shop"], "members": ["team-shop"], "admins": ["shop-leads"]}),
]
PEOPLE = {**GROUPS, "team-payments": {"pay-ci"}, "team-shop": {"shop-ci"}, "shop-leads": {"erin"}}


@pytest.fixture
def organised() -> Catalog:
    catalog = new_catalog(groups=PEOPLE)
    catalog.admins = {"root"}
    apply_docs(catalog, *TEAMS, definition("pg"), actor="root")
    return catalog


def _resolve(catalog: Catalog, actor: str, app: str) -> object:
    payload = {"workload": score(), "app": app, "env": "prod", "env_type": "production"}
    return run_operation(catalog, OPERATIONS["resolve"], actor, payload)


def test_a_pipeline_of_one_team_cannot_record_bindings_for_another_teams_app(organised: Catalog) -> None:
    before = table_rows(organised.con)

    with pytest.raises(CatalogError) as refused:
        _resolve(organised, "shop-ci", "payments")

    assert str(refused.value) == (
        "shop-ci may not deploy payments: it belongs to team payments, and shop-ci is in none of its groups"
    )
    assert refused.value.status == 403
    assert table_rows(organised.con) == before


def test_members_admins_and_platform_admins_deploy_and_unowned_apps_are_open(organised: Catalog) -> None:
    for actor, app in [("pay-ci", "payments"), ("shop-ci", "shop"), ("erin", "shop"), ("root", "payments"),
                       ("shop-ci", "blog")]:  # fmt: skip
        _resolve(organised, actor, app)

    recorded = organised.repo.rows("SELECT app, count(*) FROM catalog_bindings GROUP BY 1 ORDER BY 1")
    assert recorded == [("blog", 1), ("payments", 2), ("shop", 2)]


def test_checking_records_nothing_and_needs_no_team() -> None:
    check_deployer({}, {}, {"root"}, "anyone", "payments")  # no team owns it
    team = TeamSpec.model_validate(TEAMS[0]["spec"])
    check_deployer({"payments": team}, {}, None, "anyone", "payments")  # no tokens file: nobody is identified


def test_teams_and_environments_are_exported_like_the_others(organised: Catalog) -> None:
    apply_docs(organised, document("Environment", "prod", {"type": "production"}), actor="root")
    exported = run_operation(organised, OPERATIONS["export"], "root", {})["documents"]

    assert [d["metadata"]["id"] for d in exported if d["kind"] == "Team"] == ["payments", "shop"]
    assert [d["metadata"]["id"] for d in exported if d["kind"] == "Environment"] == ["prod"]
    assert organised.teams()["payments"].members == ["team-payments"]


def _owned(definition_id: str, team: str | None, host: str = "h") -> dict[str, object]:
    doc = definition(definition_id, criteria=[{"app_id": definition_id}], outputs={**OUTPUTS["postgres"], "host": host})
    if team:
        doc["metadata"]["team"] = team  # type: ignore[index]
    return doc


@pytest.fixture
def owned(organised: Catalog) -> Catalog:
    """shop owns shop-db, payments owns pay-db, the platform (no team) owns pg; erin administers shop."""
    apply_docs(organised, _owned("shop-db", "shop"), _owned("pay-db", "payments"), actor="root")
    return organised


def test_a_team_admin_changes_what_the_team_owns(owned: Catalog) -> None:
    changes = apply_docs(owned, _owned("shop-db", None, host="h2"), _owned("shop-cache", "shop"), actor="erin")

    assert [c.action for c in changes] == ["proposed", "created"]
    assert owned.active("shop-db").spec.outputs["host"] == "h2"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            _owned("pay-db", None, host="h2"),
            "erin may change only what teams shop own: ResourceDefinition/pay-db belongs to team payments",
        ),
        (_owned("pg", None, host="h2"), "ResourceDefinition/pg belongs to no team (give metadata.team)"),
        (_owned("shop-db", "payments"), "ResourceDefinition/shop-db belongs to team payments"),
        (_owned("pay-db", "shop"), "ResourceDefinition/pay-db belongs to team payments"),
        (
            document("ApprovalRule", "loose", {"approvals": 1, "group": "shop-leads"}),
            "ApprovalRule/loose is the platform's to change (platform admins only)",
        ),
    ],
    ids=["another-team", "no-team", "give-away", "take-over", "platform-kind"],
)
def test_a_team_admin_cannot_touch_what_others_own(owned: Catalog, doc: dict[str, object], message: str) -> None:
    before = table_rows(owned.con)

    with pytest.raises(CatalogError) as refused:
        apply_docs(owned, doc, actor="erin")

    assert message in str(refused.value) and refused.value.status == 403
    assert table_rows(owned.con) == before


def test_ownership_is_exported_and_audited(owned: Catalog) -> None:
    exported = run_operation(owned, OPERATIONS["export"], "root", {})["documents"]

    teams = {d["metadata"]["id"]: d["metadata"].get("team") for d in exported if d["kind"] == "ResourceDefinition"}
    assert teams == {"pay-db": "payments", "pg": None, "shop-db": "shop"}
    owns = owned.repo.rows("SELECT object, diff FROM catalog_audit WHERE action = 'own' ORDER BY seq")
    assert [o for o, _ in owns] == ["ResourceDefinition/shop-db", "ResourceDefinition/pay-db"]
