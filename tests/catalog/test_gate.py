"""The deployment gate: allow, or deny with the reasons, before a deployment happens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.catalog.conftest import (
    OUTPUTS,
    Clock,
    apply_docs,
    definition,
    document,
    environments,
    pin,
    production_approval_rule,
    table_rows,
    workload,
)
from trellis.catalog.gate import check
from trellis.catalog.service import Catalog


def pg(host: str, **kwargs: object) -> dict[str, object]:
    return definition("orders", outputs={**OUTPUTS["postgres"], "host": host}, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def registered(catalog: Catalog) -> None:
    """The gate judges registered environments."""
    apply_docs(catalog, *environments(), actor="alice")


@pytest.fixture
def superseded(catalog: Catalog, clock: Clock) -> Catalog:
    """orders v1 is deprecated (deadline in 30 days) by v2; shop/prod api is pinned to v1 for 90 days."""
    apply_docs(catalog, pg("v1"))
    apply_docs(catalog, pg("v2"))
    apply_docs(catalog, pin("hold", "orders", 1, clock.now + timedelta(days=90)))
    return catalog


def test_a_workload_whose_resources_all_resolve_is_allowed(catalog: Catalog) -> None:
    apply_docs(catalog, pg("v1"))

    decision = check(catalog, workload(), "shop", "prod", "production")

    assert decision.as_json() == {"decision": "allow", "reasons": [], "warnings": []}


def test_checking_records_no_binding(catalog: Catalog) -> None:
    apply_docs(catalog, pg("v1"))
    before = table_rows(catalog.con)

    check(catalog, workload(), "shop", "prod", "production")

    assert table_rows(catalog.con) == before


def test_a_deprecated_version_is_allowed_until_its_deadline_then_denied(superseded: Catalog, clock: Clock) -> None:
    v1 = superseded.repo.version("orders", 1)
    assert v1 is not None and v1.deadline is not None
    deadline = v1.deadline
    assert check(superseded, workload(), "shop", "prod", "production").allow

    clock.now = deadline + timedelta(seconds=1)
    decision = check(superseded, workload(), "shop", "prod", "production")

    assert not decision.allow
    assert decision.reasons == [
        f"resource db: orders version 1 is deprecated and its deadline {deadline:%Y-%m-%d} has passed"
    ]
    assert check(superseded, workload("worker"), "shop", "prod", "production").allow  # on v2, not pinned


def test_a_pin_to_a_version_archived_since_is_denied(superseded: Catalog) -> None:
    superseded.archive("orders", 1, "alice")

    decision = check(superseded, workload(), "shop", "prod", "production")

    assert (decision.allow, decision.reasons) == (False, ["resource db: orders version 1 is archived"])


def test_a_needed_change_that_awaits_approval_is_denied_until_approved(catalog: Catalog) -> None:
    apply_docs(catalog, production_approval_rule(), definition("dev", criteria=[{"env_type": "development"}]))
    apply_docs(catalog, definition("prod", criteria=[{"env_type": "production"}]), actor="carol")

    denied = check(catalog, workload(), "shop", "prod", "production")

    assert not denied.allow
    assert denied.reasons == ["resource db: needs version 1 of prod, which awaits approval"]
    assert check(catalog, workload(), "shop", "dev", "development").allow

    catalog.approve("prod", 1, "alice")
    assert not check(catalog, workload(), "shop", "prod", "production").allow
    catalog.approve("prod", 1, "bob")
    assert check(catalog, workload(), "shop", "prod", "production").allow


def test_a_resource_nothing_serves_is_denied_with_the_miss(catalog: Catalog) -> None:
    apply_docs(catalog, pg("v1"))
    app = workload("api", {"db": {"type": "postgres"}, "cache": {"type": "redis"}})

    decision = check(catalog, app, "shop", "prod", "production")

    assert not decision.allow
    assert decision.reasons == [
        "resource cache: no definition of type redis and class default matches app shop, env prod (production), "
        "res_id api.cache"
    ]


def test_a_deny_policy_added_after_the_definition_denies_deployments_on_it(catalog: Catalog) -> None:
    apply_docs(catalog, pg("v1", params={"backup_retention_days": 1}))
    apply_docs(
        catalog,
        document("Policy", "backups", {"rule": {"path": "params.backup_retention_days", "op": "gte", "value": 7},
                                       "message": "keep 7 days of backups"}),
        document("Policy", "ha", {"rule": {"path": "params.high_availability", "op": "eq", "value": True},
                                  "effect": "warn", "message": "consider HA"}),
    )  # fmt: skip

    decision = check(catalog, workload(), "shop", "prod", "production")

    assert decision.as_json() == {
        "decision": "deny",
        "reasons": ["resource db: policy backups: keep 7 days of backups"],
        "warnings": ["resource db: policy ha: consider HA"],
    }


def test_a_warn_policy_alone_allows_with_warnings(catalog: Catalog) -> None:
    apply_docs(catalog, pg("v1"))
    apply_docs(
        catalog,
        document("Policy", "ha", {"rule": {"path": "params.high_availability", "op": "eq", "value": True},
                                  "effect": "warn", "message": "consider HA"}),
    )  # fmt: skip

    decision = check(catalog, workload(), "shop", "prod", "production")

    assert (decision.allow, decision.warnings) == (True, ["resource db: policy ha: consider HA"])


def test_every_reason_is_given_at_once(superseded: Catalog) -> None:
    superseded.archive("orders", 1, "alice")
    app = workload("api", {"db": {"type": "postgres"}, "dns": {"type": "dns"}})

    decision = check(superseded, app, "shop", "prod", "production")

    assert len(decision.reasons) == 2
    assert decision.reasons[0].startswith("resource dns: no definition of type dns")
    assert decision.reasons[1] == "resource db: orders version 1 is archived"


def test_an_expired_pin_no_longer_holds_the_gate(superseded: Catalog, clock: Clock) -> None:
    superseded.archive("orders", 1, "alice")
    clock.advance(days=91)

    assert check(superseded, workload(), "shop", "prod", "production").allow
    assert superseded.pins() == {}


BACKUPS = document(
    "Policy",
    "prod-backups",
    {"match": {"type": "postgres", "env_type": "production"},
     "rule": {"path": "params.backup_retention_days", "op": "gte", "value": 7},
     "message": "production postgres keeps backups at least 7 days"},
)  # fmt: skip
PUBLIC = document(
    "Policy",
    "private-buckets",
    {"match": {"type": "s3", "env_type": "production"}, "rule": {"path": "params.public", "op": "ne", "value": True},
     "message": "production buckets are private"},
)  # fmt: skip
S3_OUTPUTS = {"bucket": "b", "region": "eu", "endpoint": "https://s3", "aws_access_key_id": "AK",
              "aws_secret_access_key": "${secret:vault/s3#key}"}  # fmt: skip


def _overriding(**params: object) -> object:
    return workload(resources={"db": {"type": "postgres", "params": params}})


def test_a_workload_overriding_a_governed_param_is_denied_by_the_gate(catalog: Catalog) -> None:
    apply_docs(catalog, BACKUPS, pg("v1", params={"backup_retention_days": 14}))

    decision = check(catalog, _overriding(backup_retention_days=0), "shop", "prod", "production")  # type: ignore[arg-type]

    assert decision.as_json()["decision"] == "deny"
    assert decision.reasons == [
        "resource db: policy prod-backups: production postgres keeps backups at least 7 days "
        "(the workload sets backup_retention_days: 0)"
    ]


def test_a_public_bucket_asked_for_by_a_workload_is_denied_in_production_only(catalog: Catalog) -> None:
    apply_docs(catalog, PUBLIC, definition("uploads", type_="s3", outputs=S3_OUTPUTS, params={"public": False}))
    bucket = workload(resources={"files": {"type": "s3", "params": {"public": True}}})

    production = check(catalog, bucket, "shop", "prod", "production")
    development = check(catalog, bucket, "shop", "dev", "development")

    assert production.reasons == [
        "resource files: policy private-buckets: production buckets are private (the workload sets public: True)"
    ]
    assert development.allow, "the policy matches production only"


def test_resolve_refuses_a_deployment_a_deny_policy_forbids_and_records_nothing(catalog: Catalog) -> None:
    from trellis.catalog.errors import CatalogError

    apply_docs(catalog, BACKUPS, pg("v1", params={"backup_retention_days": 14}))
    before = table_rows(catalog.con)

    with pytest.raises(CatalogError) as refused:
        catalog.resolve(_overriding(backup_retention_days=0), "shop", "prod", "production")  # type: ignore[arg-type]
    assert table_rows(catalog.con) == before
    allowed = catalog.resolve(_overriding(backup_retention_days=30), "shop", "prod", "production")  # type: ignore[arg-type]

    assert str(refused.value) == (
        "resource db: denied by policy prod-backups: production postgres keeps backups at least 7 days "
        "(the workload sets backup_retention_days: 0)"
    )
    assert allowed["resources"]["db"]["definition"] == "orders"
