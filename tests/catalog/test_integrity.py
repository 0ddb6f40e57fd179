"""The catalog's tables held against its audit log: a change made behind the log's back shows."""

from __future__ import annotations

import orjson
import pytest

from tests.catalog.conftest import OUTPUTS, Clock, apply_docs, definition, production_approval_rule
from trellis.catalog.integrity import Replay, _activation_problems, state_problems
from trellis.catalog.service import Catalog


@pytest.fixture
def governed(catalog: Catalog, clock: Clock) -> Catalog:
    """A production rule, a definition activated by two approvals, a newer proposal withdrawn."""
    apply_docs(catalog, production_approval_rule(), actor="alice")
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v1"}), actor="dave")
    catalog.approve("orders", 1, "alice")
    catalog.approve("orders", 1, "bob")
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v2"}), actor="dave")
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v3"}), actor="dave")
    clock.advance(minutes=1)
    return catalog


def test_an_untouched_catalog_matches_its_log(governed: Catalog) -> None:
    assert state_problems(governed.repo) == []


def test_the_activation_records_the_rules_and_approvals_that_allowed_it(governed: Catalog) -> None:
    (diff,) = governed.repo.rows("SELECT diff FROM catalog_audit WHERE action = 'activate'")[0]
    row = governed.repo.version("orders", 1)

    assert row is not None
    assert orjson.loads(diff) == {
        "content_hash": row.content_hash,
        "rules": {"production-changes": {"approvals": 2, "group": "platform-admins"}},
        "approvals": {"production-changes": ["alice", "bob"]},
    }


TAMPERING = {
    "a proposal made active": (
        "UPDATE catalog_versions SET state = 'active' WHERE definition_id = 'orders' AND version = 3",
        ["version 3 of orders is active but the log says proposed", "orders has 2 active versions ([1, 3])"],
    ),
    "a version's spec rewritten": (
        "UPDATE catalog_versions SET spec = replace(spec, '\"v1\"', '\"evil\"') WHERE version = 1",
        ["version 1 of orders differs from the spec the log recorded"],
    ),
    "an approval rule weakened": (
        "UPDATE catalog_objects SET spec = replace(spec, '\"production\"', '\"nowhere\"') WHERE kind = 'ApprovalRule'",
        ["ApprovalRule/production-changes differs from what the log recorded"],
    ),
    "an approval rule deleted": (
        "DELETE FROM catalog_objects WHERE kind = 'ApprovalRule'",
        ["ApprovalRule/production-changes was removed without an entry in the log"],
    ),
    "a policy slipped in": (
        "INSERT INTO catalog_objects VALUES ('Policy', 'quiet', '{}', NULL, now(), now())",
        ["Policy/quiet is in the catalog but the log never created it"],
    ),
    "a version slipped in": (
        "INSERT INTO catalog_versions SELECT definition_id, 9, content_hash, spec, 'proposed', 'mallory', "
        "proposed_at, NULL, NULL, NULL, NULL FROM catalog_versions WHERE version = 1",
        ["version 9 of orders is in the catalog but the log never proposed it"],
    ),
    "an approval slipped in": (
        "INSERT INTO catalog_approvals SELECT definition_id, version, content_hash, 'mallory', now() "
        "FROM catalog_versions WHERE version = 3",
        ["an approval by mallory of version 3 of orders is not in the log"],
    ),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_a_table_changed_behind_the_log_is_named(governed: Catalog, case: str) -> None:
    sql, expected = TAMPERING[case]
    governed.con.execute(sql)

    assert state_problems(governed.repo) == expected


def test_an_activation_without_the_approvals_it_names_is_named() -> None:
    log = Replay()
    log.apply("dave", "propose", "ResourceDefinition/orders@1", {"before": None, "after": {}})
    log.apply("dave", "approve", "ResourceDefinition/orders@1", {"content_hash": "h"})  # the proposer
    log.apply("alice", "approve", "ResourceDefinition/orders@1", {"content_hash": "other"})  # other content
    rules = {"production-changes": {"approvals": 2, "group": "platform-admins"}}
    activation = {"content_hash": "h", "rules": rules, "approvals": {"production-changes": ["dave", "alice"]}}
    log.apply("trellis", "activate", "ResourceDefinition/orders@1", activation)

    assert _activation_problems("version 1 of orders", "h", log.versions["orders", 1]) == [
        "version 1 of orders was activated under production-changes without 2 approvals from platform-admins in the log"
    ]
    assert _activation_problems("version 1 of orders", "changed", log.versions["orders", 1]) == [
        "version 1 of orders was activated with other content than it holds now"
    ]
