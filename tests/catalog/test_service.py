"""The catalog's versions, approvals, pins and lifecycle.

Each change is an immutable version with a number and a content hash; states go proposed -> active ->
deprecated (deadline) -> archived, with one active version per definition. Approvals are bound to content.
Pins hold a consumer on a version until they expire.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import orjson
import pytest

from tests.catalog.conftest import (
    OUTPUTS,
    Clock,
    apply_docs,
    audit_entries,
    definition,
    pin,
    production_approval_rule,
    table_rows,
    workload,
)
from trellis.catalog.documents import Source, parse_document
from trellis.catalog.models import DefinitionSpec, ResourceDefinition
from trellis.catalog.service import Catalog, CatalogError, content_hash


def states(catalog: Catalog, definition_id: str) -> list[tuple[int, str]]:
    return [(v.version, v.state) for v in catalog.repo.versions(definition_id)]


def doc(definition_id: str, host: str, **kwargs: object) -> ResourceDefinition:
    raw = definition(definition_id, outputs={**OUTPUTS["postgres"], "host": host}, **kwargs)  # type: ignore[arg-type]
    parsed = parse_document(raw, Source("proposal", 0))
    assert isinstance(parsed, ResourceDefinition)
    return parsed


# versions ---------------------------------------------------------------------------------------------------


def test_each_change_creates_a_numbered_version_with_its_content_hash(catalog: Catalog, clock: Clock) -> None:
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v1"}))
    clock.advance(hours=1)
    changes = apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v2"}))

    assert (changes[0].action, changes[0].detail) == ("proposed", "version 2 is active")
    v1, v2 = catalog.repo.versions("orders")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.spec.outputs["host"] == "v1" and v2.spec.outputs["host"] == "v2"
    canonical = orjson.dumps(v2.spec.model_dump(mode="json", by_alias=True), option=orjson.OPT_SORT_KEYS)
    assert v2.content_hash == hashlib.sha256(canonical).hexdigest() == content_hash(v2.spec)
    assert v1.content_hash != v2.content_hash
    assert v2.proposed_by == "alice"
    assert v2.activated_at == clock.now


def test_versions_are_immutable(catalog: Catalog) -> None:
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v1"}))
    first = catalog.repo.version("orders", 1)

    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v2"}, params={"size": "l"}))

    again = catalog.repo.version("orders", 1)
    assert again is not None and first is not None
    assert (again.spec, again.content_hash) == (first.spec, first.content_hash)


def test_reapplying_the_same_content_changes_nothing(catalog: Catalog, clock: Clock) -> None:
    apply_docs(catalog, definition("orders", params={"version": "16"}, criteria=[{"env_type": "production"}]))
    before = table_rows(catalog.con)
    clock.advance(days=1)

    # the same content written differently: keys reordered, defaults spelled out
    same = definition("orders", params={"version": "16"}, criteria=[{"class": "default", "env_type": "production"}])
    same["spec"] = dict(reversed(list({**same["spec"], "legacy": False}.items())))
    changes = apply_docs(catalog, same)

    assert [(c.action, c.detail) for c in changes] == [("unchanged", "version 1 (active)")]
    assert table_rows(catalog.con) == before


def test_one_active_version_per_definition_the_previous_one_is_deprecated_with_a_deadline(
    catalog: Catalog, clock: Clock
) -> None:
    for host in ("v1", "v2", "v3"):
        apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": host}))
        clock.advance(days=1)

    assert states(catalog, "orders") == [(1, "deprecated"), (2, "deprecated"), (3, "active")]
    v2 = catalog.repo.version("orders", 2)
    assert v2 is not None and v2.deprecated_at is not None
    assert v2.deadline == v2.deprecated_at + timedelta(days=catalog.deprecation_days)
    assert catalog.repo.rows(
        "SELECT definition_id, count(*) FROM catalog_versions WHERE state = 'active' GROUP BY ALL"
    ) == [("orders", 1)]


def test_lifecycle_deprecate_with_a_deadline_then_archive(catalog: Catalog, clock: Clock) -> None:
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v1"}))
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v2"}))
    deadline = clock.now + timedelta(days=7)

    with pytest.raises(CatalogError, match="version 2 of orders is active; deprecate it first"):
        catalog.archive("orders", 2, "alice")
    catalog.deprecate("orders", 1, deadline, "alice")  # a deprecated version's deadline can be moved
    assert catalog.repo.version("orders", 1).deadline == deadline  # type: ignore[union-attr]

    clock.advance(days=8)
    catalog.archive("orders", 1, "alice")

    v1 = catalog.repo.version("orders", 1)
    assert v1 is not None and (v1.state, v1.archived_at) == ("archived", clock.now)
    assert states(catalog, "orders") == [(1, "archived"), (2, "active")]


def test_lifecycle_refusals(catalog: Catalog, clock: Clock) -> None:
    apply_docs(catalog, production_approval_rule(), definition("orders"))  # awaits approval
    apply_docs(catalog, definition("dev", criteria=[{"env_type": "development"}]))  # active

    with pytest.raises(CatalogError, match="version 1 of dev is active; deprecate it first"):
        catalog.archive("dev", 1, "alice")
    with pytest.raises(CatalogError, match="version 1 of orders is proposed; only active ones deprecate"):
        catalog.deprecate("orders", 1, clock.now, "alice")
    with pytest.raises(CatalogError, match="version 5 of dev does not exist") as caught:
        catalog.deprecate("dev", 5, clock.now, "alice")
    assert caught.value.status == 404


def test_a_proposal_on_a_stale_base_version_is_refused_with_409(catalog: Catalog) -> None:
    catalog.propose(doc("orders", "v1"), "alice", base_version=0)
    catalog.propose(doc("orders", "v2"), "bob", base_version=1)
    before = table_rows(catalog.con)

    with pytest.raises(CatalogError) as caught:
        catalog.propose(doc("orders", "v2-from-stale"), "carol", base_version=1)

    assert caught.value.status == 409
    assert "starts from version 1, but the latest is 2" in str(caught.value)
    assert table_rows(catalog.con) == before
    with pytest.raises(CatalogError) as fresh:
        catalog.propose(doc("new-one", "x", criteria=[{"app_id": "n"}]), "carol", base_version=3)
    assert fresh.value.status == 409


def test_a_definitions_type_never_changes(catalog: Catalog) -> None:
    apply_docs(catalog, definition("orders"))

    with pytest.raises(CatalogError, match="orders is a postgres definition; types never change"):
        apply_docs(catalog, definition("orders", type_="mysql"))


# approvals --------------------------------------------------------------------------------------------------


@pytest.fixture
def gated(catalog: Catalog) -> Catalog:
    """'Any definition whose criteria can match env_type production needs 2 approvals from platform-admins'."""
    apply_docs(catalog, production_approval_rule())
    return catalog


def test_a_definition_that_cannot_match_production_needs_no_approval(gated: Catalog) -> None:
    changes = apply_docs(gated, definition("dev", criteria=[{"env_type": "development"}]), actor="dave")

    assert changes[0].detail == "version 1 is active"


@pytest.mark.parametrize("criteria", [[{"env_type": "production"}], [{}], [{"app_id": "shop"}]])
def test_one_approval_is_not_enough_two_activate(gated: Catalog, criteria: list[dict[str, str]]) -> None:
    changes = apply_docs(gated, definition("orders", criteria=criteria), actor="dave")

    assert changes[0].detail == "version 1 awaits approval: production-changes needs 2 more from platform-admins"
    assert states(gated, "orders") == [(1, "proposed")]

    assert gated.approve("orders", 1, "alice") == (
        "version 1 awaits approval: production-changes needs 1 more from platform-admins"
    )
    assert states(gated, "orders") == [(1, "proposed")]

    assert gated.approve("orders", 1, "bob") == "version 1 is active"
    assert states(gated, "orders") == [(1, "active")]
    assert gated.repo.approvals("orders", 1, gated.repo.version("orders", 1).content_hash) == ["alice", "bob"]  # type: ignore[union-attr]


def test_while_a_change_awaits_approval_the_active_version_keeps_serving(gated: Catalog) -> None:
    apply_docs(gated, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v1"}), actor="dave")
    gated.approve("orders", 1, "alice")
    gated.approve("orders", 1, "bob")

    apply_docs(gated, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v2"}), actor="dave")

    assert states(gated, "orders") == [(1, "active"), (2, "proposed")]
    resolved = gated.resolve(workload(), "shop", "prod", "production")["resources"]["db"]
    assert (resolved["version"], resolved["outputs"]["host"]) == (1, "v1")


def test_the_proposer_cannot_approve_their_own_change(gated: Catalog) -> None:
    apply_docs(gated, definition("orders"), actor="alice")

    with pytest.raises(CatalogError) as caught:
        gated.approve("orders", 1, "alice")

    assert caught.value.status == 403
    assert "you proposed this change; someone else must approve it" in str(caught.value)
    assert gated.repo.rows("SELECT count(*) FROM catalog_approvals") == [(0,)]


def test_a_non_member_cannot_approve(gated: Catalog) -> None:
    apply_docs(gated, definition("orders"), actor="alice")

    with pytest.raises(CatalogError) as caught:
        gated.approve("orders", 1, "dave")

    assert caught.value.status == 403
    assert "dave is not in platform-admins, whose approval this change needs" in str(caught.value)
    assert states(gated, "orders") == [(1, "proposed")]


def test_an_approver_counts_once(gated: Catalog) -> None:
    apply_docs(gated, definition("orders"), actor="dave")
    gated.approve("orders", 1, "alice")

    with pytest.raises(CatalogError, match="alice already approved version 1 of orders") as caught:
        gated.approve("orders", 1, "alice")

    assert caught.value.status == 409
    assert states(gated, "orders") == [(1, "proposed")]


def test_a_new_proposal_voids_the_approvals_of_the_previous_one(gated: Catalog) -> None:
    apply_docs(gated, definition("orders", outputs={**OUTPUTS["postgres"], "host": "reviewed"}), actor="dave")
    reviewed_hash = gated.repo.version("orders", 1).content_hash  # type: ignore[union-attr]
    gated.approve("orders", 1, "alice", reviewed_hash)

    # the proposer changes the content after alice approved it
    changes = apply_docs(gated, definition("orders", outputs={**OUTPUTS["postgres"], "host": "sneaky"}), actor="dave")

    assert changes[0].detail == "version 2 awaits approval: production-changes needs 2 more from platform-admins"
    assert states(gated, "orders") == [(1, "withdrawn"), (2, "proposed")]
    with pytest.raises(CatalogError, match="version 1 of orders is withdrawn, not awaiting approval"):
        gated.approve("orders", 1, "bob", reviewed_hash)
    with pytest.raises(CatalogError, match="the version changed since you reviewed it") as stale:
        gated.approve("orders", 2, "bob", reviewed_hash)
    assert stale.value.status == 409
    assert states(gated, "orders") == [(1, "withdrawn"), (2, "proposed")]

    current = gated.repo.version("orders", 2).content_hash  # type: ignore[union-attr]
    assert gated.approve("orders", 2, "bob", current).endswith("needs 1 more from platform-admins")
    assert gated.approve("orders", 2, "alice", current) == "version 2 is active"
    assert gated.active("orders").spec.outputs["host"] == "sneaky"  # type: ignore[union-attr]


def test_approving_something_not_awaiting_approval_is_refused(gated: Catalog) -> None:
    apply_docs(gated, definition("dev", criteria=[{"env_type": "development"}]))

    with pytest.raises(CatalogError, match="version 1 of dev is active, not awaiting approval"):
        gated.approve("dev", 1, "bob")
    with pytest.raises(CatalogError, match="version 3 of dev does not exist") as missing:
        gated.approve("dev", 3, "bob")
    assert missing.value.status == 404


def test_every_matching_rule_must_be_met(gated: Catalog) -> None:
    apply_docs(
        gated,
        {**production_approval_rule(1, "dbas"), "metadata": {"id": "dba-review"}},
    )
    apply_docs(gated, definition("orders"), actor="carol")

    gated.approve("orders", 1, "alice")
    assert gated.approve("orders", 1, "bob") == "version 1 awaits approval: dba-review needs 1 more from dbas"
    assert gated.approve("orders", 1, "dave") == "version 1 is active"


# pins -------------------------------------------------------------------------------------------------------


@pytest.fixture
def two_versions(catalog: Catalog, clock: Clock) -> Catalog:
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v1"}))
    clock.advance(days=1)
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v2"}))
    return catalog


def test_a_pin_holds_a_consumer_on_its_version(two_versions: Catalog, clock: Clock) -> None:
    apply_docs(two_versions, pin("hold-api", "orders", 1, clock.now + timedelta(days=10)))

    api = two_versions.resolve(workload("api"), "shop", "prod", "production")["resources"]["db"]
    worker = two_versions.resolve(workload("worker"), "shop", "prod", "production")["resources"]["db"]
    other_env = two_versions.resolve(workload("api"), "shop", "staging", "staging")["resources"]["db"]

    assert (api["version"], api["outputs"]["host"]) == (1, "v1")
    assert (worker["version"], other_env["version"]) == (2, 2)
    assert two_versions.repo.rows(
        "SELECT workload, env, version, pinned FROM catalog_bindings ORDER BY workload, env"
    ) == [("api", "prod", 1, True), ("api", "staging", 2, False), ("worker", "prod", 2, False)]
    stored = two_versions.pins()["hold-api"]
    assert (stored.reason, stored.owner, stored.expires) == (
        "rollout freeze",
        "team-shop",
        clock.now + timedelta(days=10),
    )


def test_after_expiry_resolve_uses_the_active_version_and_the_reversion_is_audited(
    two_versions: Catalog, clock: Clock
) -> None:
    expires = clock.now + timedelta(days=10)
    apply_docs(two_versions, pin("hold-api", "orders", 1, expires))
    assert two_versions.resolve(workload(), "shop", "prod", "production")["resources"]["db"]["version"] == 1

    clock.advance(days=10)
    resolved = two_versions.resolve(workload(), "shop", "prod", "production")["resources"]["db"]

    assert (resolved["version"], resolved["outputs"]["host"]) == (2, "v2")
    assert two_versions.pins() == {}
    entry = audit_entries(two_versions.con)[-1]
    assert (entry["actor"], entry["action"], entry["object"], entry["at"]) == (
        "trellis", "pin-expired", "Pin/hold-api", clock.now,
    )  # fmt: skip
    diff = orjson.loads(entry["diff"])
    assert (diff["definition"], diff["version"], diff["owner"]) == ("orders", 1, "team-shop")


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        (7, "pin names version 7 of orders, which does not exist"),
        (3, "cannot pin to version 3 of orders: it is proposed"),
    ],
)
def test_a_pin_must_name_a_usable_version(two_versions: Catalog, clock: Clock, version: int, problem: str) -> None:
    apply_docs(two_versions, production_approval_rule())
    apply_docs(two_versions, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v3"}))

    with pytest.raises(CatalogError, match=problem):
        apply_docs(two_versions, pin("p", "orders", version, clock.now + timedelta(days=1)))


def test_an_archived_version_cannot_be_pinned(two_versions: Catalog, clock: Clock) -> None:
    two_versions.archive("orders", 1, "alice")

    with pytest.raises(CatalogError, match="cannot pin to version 1 of orders: it is archived"):
        apply_docs(two_versions, pin("p", "orders", 1, clock.now + timedelta(days=1)))


def test_a_pin_for_another_definition_does_not_bend_matching(two_versions: Catalog, clock: Clock) -> None:
    apply_docs(two_versions, definition("shop-db", criteria=[{"app_id": "shop"}]))
    apply_docs(two_versions, pin("p", "orders", 1, clock.now + timedelta(days=1)))

    resolved = two_versions.resolve(workload(), "shop", "prod", "production")["resources"]["db"]

    assert (resolved["definition"], resolved["version"]) == ("shop-db", 1)


def test_the_content_hash_ignores_how_the_document_was_written() -> None:
    a = DefinitionSpec.model_validate({"type": "dns", "driver": "static", "outputs": {"host": "h"}})
    b = DefinitionSpec.model_validate(
        {"outputs": {"host": "h"}, "driver": "static", "type": "dns", "criteria": [], "params": {}, "legacy": False}
    )
    c = DefinitionSpec.model_validate({"type": "dns", "driver": "static", "outputs": {"host": "H"}})

    assert content_hash(a) == content_hash(b) != content_hash(c)


def test_a_deprecated_version_with_no_successor_still_serves_its_consumers_until_the_deadline(
    catalog: Catalog, clock: Clock
) -> None:
    apply_docs(catalog, definition("only-db"))
    catalog.deprecate("only-db", 1, clock() + timedelta(days=10), "alice")

    resolved = catalog.resolve(workload("api"), "shop", "prod", "production")

    assert resolved["resources"]["db"]["definition"] == "only-db"
    assert resolved["resources"]["db"]["version"] == 1


def test_a_description_only_change_is_stored_without_a_new_version(catalog: Catalog) -> None:
    apply_docs(catalog, definition("pg", description="first words"))

    changes = apply_docs(catalog, definition("pg", description="better words"))

    assert [c.action for c in changes] == ["updated"]
    assert catalog.repo.definition("pg")["description"] == "better words"
    assert [v.version for v in catalog.repo.versions("pg")] == [1]
