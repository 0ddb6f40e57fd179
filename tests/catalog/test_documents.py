"""Catalog YAML: bad documents fail with an error naming file, document and field, and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.catalog.conftest import (
    OUTPUTS,
    apply_docs,
    definition,
    document,
    pin,
    production_approval_rule,
    table_rows,
    write_yaml,
)
from trellis.catalog.documents import DocumentError, load_yaml, read_path, read_text
from trellis.catalog.score import read_workload
from trellis.catalog.service import Catalog, CatalogError

LATER = datetime(2027, 1, 1, tzinfo=UTC)

GOOD_TYPE = document(
    "ResourceType",
    "queue",
    {"params_schema": {"type": "object", "properties": {"size": {"type": "integer"}}}, "outputs": {"url": {}}},
)


def test_a_file_of_every_kind_is_read_into_models(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "catalog.yaml",
        GOOD_TYPE,
        document("Policy", "small", {"rule": {"path": "params.size", "op": "lte", "value": 10}, "message": "too big"}),
        production_approval_rule(),
        definition("q", type_="queue", outputs={"url": "amqp://q"}),
        pin("freeze", "q", 1, LATER),
    )

    documents = read_path(path)

    assert [doc.kind for doc, _ in documents] == ["ResourceType", "Policy", "ApprovalRule", "ResourceDefinition", "Pin"]
    assert [str(source) for _, source in documents][-1] == f"{path} (document 5)"
    assert documents[3][0].spec.criteria[0].class_ == "default"


def test_yaml_that_does_not_parse_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: trellis/v1\nkind: ResourceType\nmetadata: {id: x\n")

    with pytest.raises(DocumentError) as caught:
        read_path(path)

    assert str(caught.value).startswith(f"{path}: not valid YAML:")


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            {**GOOD_TYPE, "kind": "Database"},
            "kind 'Database' is unknown; expected one of Environment, Team, ResourceType",
        ),
        ({k: v for k, v in GOOD_TYPE.items() if k != "kind"}, "kind None is unknown"),
        ({**GOOD_TYPE, "apiVersion": "trellis/v2"}, "field apiVersion: Input should be 'trellis/v1'"),
        ({**GOOD_TYPE, "colour": "red"}, "field colour: Extra inputs are not permitted"),
        (
            definition("d", replicas=3),
            "field spec.replicas: Extra inputs are not permitted",
        ),
        (
            definition("d", criteria=[{"environment": "prod"}]),
            "field spec.criteria.0.environment: Extra inputs are not permitted",
        ),
        (definition("d", driver="terraform"), "field spec.driver: Input should be 'static' or 'template'"),
        (definition("Not_An_Id"), "field metadata.id: 'Not_An_Id' is not an id"),
        (["a", "list"], "a document must be a mapping"),
        (
            pin("p", "d", 1, datetime(2027, 1, 1)),
            "field spec.expires: expires needs a time zone",
        ),
        ({**pin("p", "d", 1, datetime(2027, 1, 1)), "spec": {}}, "field spec.app: Field required"),
    ],
    ids=[
        "unknown-kind",
        "no-kind",
        "api-version",
        "unknown-top-field",
        "unknown-spec-field",
        "unknown-criteria-field",
        "unknown-driver",
        "bad-id",
        "not-a-mapping",
        "naive-pin-expiry",
        "pin-missing-fields",
    ],
)
def test_a_document_that_does_not_validate_names_file_document_and_field(
    tmp_path: Path, bad: Any, expected: str
) -> None:
    path = write_yaml(tmp_path / "catalog.yaml", GOOD_TYPE, definition("fine"), bad)

    with pytest.raises(DocumentError) as caught:
        read_path(path)

    message = str(caught.value)
    assert message.startswith(f"{path} (document 3): ")
    assert expected in message


def test_empty_documents_are_skipped_but_numbering_follows_the_file() -> None:
    text = "---\n---\n" + "apiVersion: trellis/v1\nkind: Nope\n"

    with pytest.raises(DocumentError, match=r"^f.yaml \(document 1\): kind 'Nope' is unknown"):
        read_text(text, "f.yaml")


def test_a_folder_is_read_in_sorted_order_from_yaml_and_yml_files(tmp_path: Path) -> None:
    write_yaml(tmp_path / "b" / "second.yml", definition("second", criteria=[{"app_id": "b"}]))
    write_yaml(tmp_path / "a.yaml", definition("first", criteria=[{"app_id": "a"}]))
    (tmp_path / "notes.txt").write_text("not yaml: [")

    documents = read_path(tmp_path)

    assert [doc.metadata.id for doc, _ in documents] == ["first", "second"]
    assert str(documents[1][1]) == f"{tmp_path / 'b' / 'second.yml'} (document 1)"


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no such file or folder"):
        read_path(tmp_path / "nope.yaml")


# Errors the catalog finds (types, schemas, secrets, conflicts, policies): one transaction, nothing changes.

POLICY = document(
    "Policy",
    "backups",
    {"match": {"type": "postgres"}, "rule": {"path": "params.backup_retention_days", "op": "gte", "value": 7},
     "message": "postgres keeps at least 7 days of backups"},
)  # fmt: skip


@pytest.fixture
def populated(catalog: Catalog) -> Catalog:
    """A catalog with a type, a policy, a definition at version 1 and some audit history."""
    apply_docs(catalog, GOOD_TYPE, POLICY, definition("orders", params={"backup_retention_days": 7}))
    return catalog


BAD_LAST = {
    "unknown-type": (definition("mystery", type_="nosql"), "field spec.type: resource type 'nosql' is unknown"),
    "params-schema": (
        definition("tiny", criteria=[{"app_id": "tiny"}], params={"backup_retention_days": -1}),
        "field spec.params.backup_retention_days: -1 is less than the minimum of 0",
    ),
    "params-wrong-type": (
        definition("tiny", criteria=[{"app_id": "tiny"}], params={"high_availability": "yes"}),
        "field spec.params.high_availability: 'yes' is not of type 'boolean'",
    ),
    "ambiguous-criteria": (
        definition("orders-copy", params={"backup_retention_days": 9}),
        "field spec.criteria: rule {class=default} of orders-copy is the same as a rule of orders",
    ),
    "secret-in-clear": (
        definition(
            "leaky",
            criteria=[{"app_id": "x"}],
            outputs={**OUTPUTS["postgres"], "password": "hunter2"},
            params={"backup_retention_days": 7},
        ),
        "field spec.outputs: output password is secret",
    ),
    "missing-output": (
        definition("short", criteria=[{"app_id": "x"}], outputs={"host": "h"}, params={"backup_retention_days": 7}),
        "field spec.outputs: outputs name, password, port, username are required by type postgres",
    ),
    "deny-policy": (
        definition("no-backups", criteria=[{"app_id": "x"}], params={"backup_retention_days": 1}),
        "denied by policy backups: postgres keeps at least 7 days of backups",
    ),
    "builtin-type": (document("ResourceType", "postgres", {}), "resource type postgres is built in"),
    "pin-missing-version": (
        pin("p", "orders", 9, LATER),
        "pin names version 9 of orders, which does not exist",
    ),
    "type-change": (
        definition("orders", type_="mysql", params={"backup_retention_days": 7}),
        "field spec.type: orders is a postgres definition; types never change",
    ),
}


@pytest.mark.parametrize("case", list(BAD_LAST))
def test_a_bad_last_document_changes_no_row_in_any_catalog_table(populated: Catalog, case: str) -> None:
    bad, expected = BAD_LAST[case]
    changed_type = {**GOOD_TYPE, "spec": {**GOOD_TYPE["spec"], "outputs": {"url": {}, "user": {}}}}
    before = table_rows(populated.con)
    assert before["catalog_audit"] and before["catalog_versions"]

    with pytest.raises(CatalogError) as caught:
        apply_docs(
            populated,
            changed_type,  # an update of an existing object
            document("Policy", "named", {"rule": {"path": "type", "op": "exists"}, "message": "m"}),  # a new object
            definition("orders", params={"backup_retention_days": 8}),  # a new version of an existing definition
            definition("payments", criteria=[{"app_id": "pay"}], params={"backup_retention_days": 7}),  # a new one
            bad,
            file="change.yaml",
        )

    message = str(caught.value)
    assert message.startswith("change.yaml (document 5): "), message
    assert expected in message
    assert table_rows(populated.con) == before


def test_a_dry_run_reports_the_plan_and_changes_nothing(populated: Catalog) -> None:
    before = table_rows(populated.con)

    changes = apply_docs(
        populated,
        definition("orders", params={"backup_retention_days": 30}),
        definition("payments", criteria=[{"app_id": "pay"}], params={"backup_retention_days": 7}),
        GOOD_TYPE,
        dry_run=True,
    )

    assert [(c.kind, c.id, c.action) for c in changes] == [
        ("ResourceType", "queue", "unchanged"),
        ("ResourceDefinition", "orders", "proposed"),
        ("ResourceDefinition", "payments", "created"),
    ]
    assert table_rows(populated.con) == before


def test_documents_apply_types_first_whatever_their_order_in_the_file(catalog: Catalog) -> None:
    changes = apply_docs(catalog, definition("q", type_="queue", outputs={"url": "amqp://q"}), GOOD_TYPE)

    assert [(c.kind, c.action) for c in changes] == [("ResourceType", "created"), ("ResourceDefinition", "created")]
    assert catalog.active("q") is not None


def test_a_warn_policy_lets_the_change_through_with_its_warning(catalog: Catalog) -> None:
    warn = {**POLICY, "metadata": {"id": "backups-warn"}, "spec": {**POLICY["spec"], "effect": "warn"}}
    apply_docs(catalog, warn)

    changes = apply_docs(catalog, definition("orders", params={"backup_retention_days": 1}))

    assert changes[0].action == "created"
    assert changes[0].warnings == ["backups-warn: postgres keeps at least 7 days of backups"]


def test_reapplying_the_same_objects_reports_unchanged_and_writes_nothing(populated: Catalog) -> None:
    before = table_rows(populated.con)

    changes = apply_docs(populated, GOOD_TYPE, POLICY, definition("orders", params={"backup_retention_days": 7}))

    assert [c.action for c in changes] == ["unchanged", "unchanged", "unchanged"]
    assert table_rows(populated.con) == before


DUPLICATE_PARAMS = """\
apiVersion: trellis/v1
kind: ResourceType
metadata: {id: queue}
spec: {}
---
apiVersion: trellis/v1
kind: ResourceDefinition
metadata: {id: orders}
spec:
  type: postgres
  driver: static
  params: {backup_retention_days: 14}
  params: {backup_retention_days: 0}
"""


def test_a_key_given_twice_is_refused_naming_file_document_key_and_line() -> None:
    with pytest.raises(DocumentError) as refused:
        read_text(DUPLICATE_PARAMS, "orders.yaml")

    assert str(refused.value) == "orders.yaml (document 2): key 'params' appears twice (the second at line 13)"


def test_a_merge_key_may_be_overridden() -> None:
    text = "base: &base {a: 1, b: 2}\nderived:\n  <<: *base\n  b: 3\n"

    assert load_yaml(text, "merge.yaml") == [{"base": {"a": 1, "b": 2}, "derived": {"a": 1, "b": 3}}]


def test_a_cyclic_anchor_is_refused_naming_file_and_document() -> None:
    text = "kind: Policy\n---\nspec: &loop\n  rule: *loop\n"

    with pytest.raises(DocumentError) as refused:
        read_text(text, "loop.yaml")

    assert str(refused.value) == "loop.yaml (document 2): an alias refers to the value that contains it (a cycle)"


def test_aliases_that_expand_past_the_limit_are_refused() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]

    with pytest.raises(DocumentError, match=r"^laughs\.yaml \(document 1\): expands to more than 100,000 values"):
        load_yaml("\n".join(levels), "laughs.yaml")


def test_a_score_file_with_a_key_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "api.score.yaml"
    path.write_text("apiVersion: score.dev/v1b1\nmetadata: {name: api}\nmetadata: {name: web}\n")

    with pytest.raises(DocumentError, match=r"api\.score\.yaml \(document 1\): key 'metadata' appears twice"):
        read_workload(path)
