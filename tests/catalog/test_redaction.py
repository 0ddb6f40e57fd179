"""An output that becomes secret: the plaintext stored before is redacted everywhere SQL can read it."""

from __future__ import annotations

import orjson
import pytest

from tests.catalog.conftest import Clock, apply_docs, definition, document, workload
from trellis.catalog import audit
from trellis.catalog.integrity import state_problems
from trellis.catalog.service import Catalog, CatalogError

PLAIN = "hunter2-plaintext-token"
QUEUE_V1 = document("ResourceType", "queue", {"outputs": {"url": {}, "token": {}}})
QUEUE_V2 = document("ResourceType", "queue", {"outputs": {"url": {}, "token": {"secret": True}}})
REFERENCE = "${secret:vault/queue#token}"


def queue(token: str, host: str = "q1") -> dict[str, object]:
    return definition("jobs", type_="queue", outputs={"url": f"amqp://{host}", "token": token})


def everything(catalog: Catalog) -> str:
    tables = ("catalog_versions", "catalog_bindings", "catalog_audit", "catalog_objects", "catalog_changes")
    return " ".join(str(catalog.con.execute(f"SELECT * FROM {table}").fetchall()) for table in tables)


@pytest.fixture
def leaked(catalog: Catalog, clock: Clock) -> Catalog:
    """jobs v1 gave the token in clear text and a consumer recorded it; v2 now gives a reference."""
    apply_docs(catalog, QUEUE_V1)
    apply_docs(catalog, queue(PLAIN))
    catalog.resolve(workload(resources={"jobs": {"type": "queue"}}), "shop", "prod", "production")
    clock.advance(minutes=1)
    apply_docs(catalog, queue(REFERENCE, host="q2"))
    return catalog


def test_a_type_cannot_turn_secret_while_a_served_version_gives_it_in_clear_text(leaked: Catalog) -> None:
    with pytest.raises(CatalogError) as refused:
        apply_docs(leaked, QUEUE_V2)

    assert str(refused.value) == (
        "catalog.yaml (document 1): output token of queue becomes secret, but version 1 of jobs (deprecated) "
        "gives it in clear text: archive it, or propose a version that gives a reference"
    )
    assert not leaked.resource_types()["queue"].outputs["token"].secret


def test_turning_an_output_secret_redacts_its_plaintext_and_keeps_the_log_verifiable(leaked: Catalog) -> None:
    leaked.archive("jobs", 1, "alice")
    head = audit.verify(leaked.con).head
    assert PLAIN in everything(leaked)

    apply_docs(leaked, QUEUE_V2)

    assert PLAIN not in everything(leaked)
    verified = audit.verify(leaked.con)
    assert verified.ok, verified.problem
    assert state_problems(leaked.repo) == []
    entry = leaked.repo.rows("SELECT diff FROM catalog_audit WHERE action = 'redact'")
    assert len(entry) == 1
    redaction = orjson.loads(entry[0][0])
    assert redaction["type"] == "queue" and redaction["outputs"] == ["token"]
    assert redaction["versions"] == ["jobs@1"] and redaction["bindings"] == 1
    assert redaction["previous_head"] == head, "the head kept elsewhere before is named, so the rewrite shows"
    assert leaked.repo.version("jobs", 1).spec.outputs["token"] == "[redacted]"  # type: ignore[union-attr]
    assert leaked.repo.version("jobs", 2).spec.outputs["token"] == REFERENCE  # type: ignore[union-attr]
