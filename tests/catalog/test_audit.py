"""The audit log: every catalog change appended with actor, time, action, object and diff, chained by hashes."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from tests.catalog.conftest import (
    OUTPUTS,
    Clock,
    apply_docs,
    audit_entries,
    definition,
    document,
    pin,
    production_approval_rule,
    workload,
)
from trellis.catalog import audit
from trellis.catalog.integrity import state_problems
from trellis.catalog.service import Catalog, CatalogError

TYPE_V1 = document("ResourceType", "queue", {"outputs": {"url": {}}})
TYPE_V2 = document("ResourceType", "queue", {"outputs": {"url": {}, "user": {}}})


@pytest.fixture
def history(catalog: Catalog, clock: Clock) -> Catalog:
    """A catalog whose audit log has seen every kind of change, a minute apart."""
    steps = [
        lambda: apply_docs(catalog, TYPE_V1, actor="alice"),
        lambda: apply_docs(catalog, TYPE_V2, actor="bob"),
        lambda: apply_docs(catalog, production_approval_rule(), actor="alice"),
        lambda: apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v1"}), actor="dave"),
        lambda: catalog.approve("orders", 1, "alice"),
        lambda: catalog.approve("orders", 1, "bob"),
        lambda: apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v2"}), actor="dave"),
        lambda: apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "v3"}), actor="dave"),
        lambda: catalog.approve("orders", 3, "alice"),
        lambda: catalog.approve("orders", 3, "carol"),
        lambda: apply_docs(catalog, pin("hold", "orders", 1, clock.now + timedelta(minutes=5)), actor="carol"),
        lambda: catalog.deprecate("orders", 1, clock.now + timedelta(days=1), "carol"),
        lambda: catalog.resolve(workload(), "shop", "prod", "production"),
    ]
    for step in steps:
        clock.advance(minutes=1)
        step()
    clock.advance(minutes=10)
    catalog.resolve(workload(), "shop", "prod", "production")  # the pin expires
    return catalog


def test_every_mutation_is_appended_with_actor_time_action_and_object(history: Catalog, clock: Clock) -> None:
    entries = audit_entries(history.con)

    assert [(e["seq"], e["actor"], e["action"], e["object"]) for e in entries] == [
        (1, "alice", "create", "ResourceType/queue"),
        (2, "bob", "update", "ResourceType/queue"),
        (3, "alice", "create", "ApprovalRule/production-changes"),
        (4, "dave", "propose", "ResourceDefinition/orders@1"),
        (5, "alice", "approve", "ResourceDefinition/orders@1"),
        (6, "bob", "approve", "ResourceDefinition/orders@1"),
        (7, "trellis", "activate", "ResourceDefinition/orders@1"),
        (8, "dave", "propose", "ResourceDefinition/orders@2"),
        (9, "dave", "withdraw", "ResourceDefinition/orders@2"),
        (10, "dave", "propose", "ResourceDefinition/orders@3"),
        (11, "alice", "approve", "ResourceDefinition/orders@3"),
        (12, "carol", "approve", "ResourceDefinition/orders@3"),
        (13, "trellis", "deprecate", "ResourceDefinition/orders@1"),
        (14, "trellis", "activate", "ResourceDefinition/orders@3"),
        (15, "carol", "create", "Pin/hold"),
        (16, "carol", "deprecate", "ResourceDefinition/orders@1"),
        (17, "trellis", "pin-expired", "Pin/hold"),
    ]
    start = entries[0]["at"]
    minutes = [round((e["at"] - start).total_seconds() / 60) for e in entries]
    assert minutes == [0, 1, 2, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9, 9, 10, 11, 22]
    assert entries[-1]["at"] == clock.now


def test_each_entry_records_the_change_before_and_after(history: Catalog) -> None:
    diffs = {(e["seq"]): orjson.loads(e["diff"]) for e in audit_entries(history.con)}

    plain = {"secret": False, "description": None}
    assert diffs[1] == {"before": None, "after": {"params_schema": {"type": "object"}, "outputs": {"url": plain}}}
    assert diffs[2] == {"outputs": {"before": {"url": plain}, "after": {"url": plain, "user": plain}}}
    assert diffs[4]["before"] is None and diffs[4]["after"]["outputs"]["host"] == "v1"
    assert diffs[5] == {"content_hash": history.repo.version("orders", 1).content_hash}  # type: ignore[union-attr]
    assert diffs[8] == {"outputs": {"before": {**OUTPUTS["postgres"], "host": "v1"},
                                    "after": {**OUTPUTS["postgres"], "host": "v2"}}}  # fmt: skip
    assert diffs[13] == {"deadline": "2026-01-31T12:10:00+00:00"}  # deprecation_days after activating v3
    assert diffs[16] == {"deadline": "2026-01-02T12:12:00+00:00"}  # the deadline carol set
    assert diffs[17]["definition"] == "orders" and diffs[17]["reason"] == "rollout freeze"


def test_a_refused_change_leaves_no_entry(history: Catalog) -> None:
    count = len(audit_entries(history.con))

    with pytest.raises(CatalogError):
        apply_docs(history, TYPE_V1, definition("bad", type_="nope"))
    with pytest.raises(CatalogError):
        history.approve("orders", 3, "dave")
    apply_docs(history, TYPE_V2)  # unchanged

    assert len(audit_entries(history.con)) == count


def test_verify_passes_on_an_untouched_log(history: Catalog) -> None:
    result = audit.verify(history.con)

    assert (result.ok, result.entries, result.problem) == (True, 17, None)
    assert state_problems(history.repo) == [], "replaying every kind of entry gives the tables"


def test_verify_passes_on_an_empty_log(catalog: Catalog) -> None:
    assert audit.verify(catalog.con).ok


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE catalog_audit SET actor = 'mallory' WHERE seq = 5",
        'UPDATE catalog_audit SET diff = \'{"content_hash":"0000"}\' WHERE seq = 5',
        'UPDATE catalog_audit SET "at" = "at" + INTERVAL 1 HOUR WHERE seq = 5',
        "UPDATE catalog_audit SET object = 'ResourceDefinition/orders@9' WHERE seq = 5",
        "UPDATE catalog_audit SET action = 'reject' WHERE seq = 5",
    ],
    ids=["actor", "diff", "time", "object", "action"],
)
def test_verify_detects_an_edited_entry_and_names_it(history: Catalog, tamper: str) -> None:
    history.con.execute(tamper)

    result = audit.verify(history.con)

    assert not result.ok
    assert result.problem is not None and result.problem.startswith("entry 5 (")
    assert result.problem.endswith("was changed after it was written")


def test_verify_detects_a_deleted_entry_and_names_it(history: Catalog) -> None:
    history.con.execute("DELETE FROM catalog_audit WHERE seq = 7")

    result = audit.verify(history.con)

    assert (result.ok, result.problem) == (False, "entry 7 is missing (next is 8)")


def test_verify_detects_an_entry_rewritten_with_a_fresh_hash(history: Catalog) -> None:
    row = history.con.execute(
        'SELECT seq, "at", actor, action, object, diff, prev_hash FROM catalog_audit WHERE seq = 5'
    ).fetchone()
    assert row is not None
    seq, at, _, action, obj, diff, prev = row
    forged = audit.entry_hash(prev, seq, at, "mallory", action, obj, orjson.loads(diff))
    history.con.execute("UPDATE catalog_audit SET actor = 'mallory', hash = ? WHERE seq = 5", [forged])

    result = audit.verify(history.con)

    assert (result.ok, result.problem) == (False, "entry 6 does not follow entry 5")


def test_the_chain_continues_after_verification(history: Catalog, clock: Clock) -> None:
    clock.advance(minutes=1)
    apply_docs(history, document("ResourceType", "queue", {"outputs": {"url": {}}}), actor="bob")

    result = audit.verify(history.con)

    assert (result.ok, result.entries) == (True, 18)
