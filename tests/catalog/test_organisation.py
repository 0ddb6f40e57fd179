"""The organisation model: teams own apps, and only a team's members (and platform admins) deploy them."""

from __future__ import annotations

import pytest

from tests.catalog.conftest import GROUPS, apply_docs, definition, document, new_catalog, score, table_rows
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
