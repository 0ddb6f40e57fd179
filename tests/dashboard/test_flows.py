"""Edit -> check -> blast radius -> propose -> approve -> active: as plain functions on a catalog, through
the collector's API, and through the dashboard's pages (AppTest)."""

from __future__ import annotations

import copy
from typing import Any

import duckdb
import pytest

from tests.dashboard import scenario
from tests.dashboard.apptest import frames, open_app, page, problems, texts
from trellis.catalog import CatalogClient
from trellis.catalog.service import Catalog, CatalogError
from trellis.dashboard import editor, flows
from trellis.dashboard.source import Backend, DashboardError, Source
from trellis.testing import RunningCollector

GROUPS = {"platform-admins": {"bob"}}


def local(con: duckdb.DuckDBPyConnection, actor: str) -> CatalogClient:
    """The catalog on a database directly, acting as ``actor``: the same ``call`` as the dashboard's Backend."""
    return CatalogClient(catalog=Catalog(con, groups=GROUPS), actor=actor)


@pytest.fixture
def con() -> Any:
    connection = duckdb.connect()
    alice = local(connection, "alice")
    documents = scenario.catalog_documents()
    alice.call("apply", {"documents": documents[2:]})
    alice.call("apply", {"documents": documents[:2]})
    alice.call(
        "resolve",
        {"workload": scenario.score("api", {"db": {"type": "postgres"}}), "app": "shop", "env": "production-eu",
         "env_type": "production"},
    )  # fmt: skip
    yield connection
    connection.close()


def pg_prod_edit(client: Any, host: str = "pg-prod-2.internal") -> tuple[dict[str, Any], int | None]:
    """pg-prod as the editor loads it, with a new host: the document and the base version."""
    found = flows.definition(client, "pg-prod")
    assert found is not None
    draft = editor.draft_from(found)
    for row in draft.outputs:
        if row["name"] == "host":
            row["value"] = host
    return editor.document_from(draft), editor.base_version(found)


def test_edit_check_plan_propose_approve_activate_as_plain_functions(con: duckdb.DuckDBPyConnection) -> None:
    alice, bob = local(con, "alice"), local(con, "bob")
    known = flows.types(alice)
    document, base = pg_prod_edit(alice)
    assert base == 1
    consumers = flows.blast_radius(alice, document, known)["consumers"]
    assert [(c["workload"], c["change"]) for c in consumers] == [("api", "changes")]
    assert consumers[0]["outputs"]["host"] == {"before": "pg-prod.internal", "after": "pg-prod-2.internal"}
    answer = flows.propose(alice, document, known, base)
    assert answer["action"] == "proposed" and "awaits approval" in answer["detail"]
    [pending] = flows.pending(alice)
    assert (pending["definition"], pending["version"]) == ("pg-prod", 2)
    assert pending["diff"]["outputs"]["after"]["host"] == "pg-prod-2.internal"
    assert {"field": "outputs.host", "before": "pg-prod.internal", "after": "pg-prod-2.internal"} in pending["fields"]
    assert pending["impact"]["consumers"] == 1
    with pytest.raises(CatalogError, match="someone else must approve"):
        flows.approve(alice, pending)
    assert flows.approve(bob, pending) == "version 2 is active"
    assert flows.active_version(alice, "pg-prod") == 2
    assert flows.pending(alice) == []


def test_nothing_invalid_is_sent(con: duckdb.DuckDBPyConnection) -> None:
    alice = local(con, "alice")
    known = flows.types(alice)
    document, base = pg_prod_edit(alice)
    before = con.execute("SELECT count(*) FROM catalog_audit").fetchall()

    def refused(change: dict[str, Any], message: str) -> None:
        with pytest.raises(editor.EditError, match=message):
            flows.propose(alice, change, known, base)

    wrong = copy.deepcopy(document)
    wrong["spec"]["colour"] = "blue"
    refused(wrong, "colour: Extra inputs are not permitted")
    wrong = copy.deepcopy(document)
    wrong["spec"]["params"]["backup_retention_days"] = "two weeks"
    refused(wrong, "spec.params.backup_retention_days")
    wrong = copy.deepcopy(document)
    wrong["spec"]["outputs"]["password"] = "hunter2"
    refused(wrong, "output password is secret")
    wrong = copy.deepcopy(document)
    del wrong["spec"]["outputs"]["port"]
    refused(wrong, "outputs port are required")
    wrong = copy.deepcopy(document)
    wrong["spec"]["type"] = "oracle"
    refused(wrong, "resource type 'oracle' is unknown")
    assert con.execute("SELECT count(*) FROM catalog_audit").fetchall() == before


def test_a_stale_edit_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    alice = local(con, "alice")
    known = flows.types(alice)
    first, base = pg_prod_edit(alice, "one.internal")
    second, _ = pg_prod_edit(alice, "two.internal")
    flows.propose(alice, first, known, base)
    with pytest.raises(CatalogError, match="starts from version 1, but the latest is 2") as refused:
        flows.propose(alice, second, known, base)
    assert refused.value.status == 409


@pytest.fixture
def changing_platform(tmp_path: Any) -> Any:
    """A platform of its own, for tests that change the catalog."""
    from tests.dashboard.conftest import start_platform

    collector, _ = start_platform(tmp_path / "changing", days=7, workloads=4)
    yield collector
    collector.stop()


def as_user(collector: RunningCollector, name: str) -> Backend:
    return Backend(Source("api", collector.api), scenario.TOKENS[name][0])


def test_the_same_flow_through_the_api_records_who_did_what(changing_platform: RunningCollector) -> None:
    alice, bob, reader = (as_user(changing_platform, n) for n in ("alice", "bob", "reader"))
    known = flows.types(alice)
    document, base = pg_prod_edit(alice)
    consumers = flows.blast_radius(reader, document, known)["consumers"]  # planning only reads
    assert len(consumers) == 4 and {c["change"] for c in consumers} == {"changes"}
    with pytest.raises(DashboardError, match="not allowed: token 'reader' lacks the 'propose' scope"):
        flows.propose(reader, document, known, base)
    flows.propose(alice, document, known, base)
    proposal = next(p for p in flows.pending(bob) if p["definition"] == "pg-prod")
    with pytest.raises(DashboardError, match="not allowed: token 'alice' lacks the 'approve' scope"):
        flows.approve(alice, proposal)  # alice cannot approve at all (no approve scope)
    assert flows.approve(bob, proposal) == "version 2 is active"
    assert flows.active_version(reader, "pg-prod") == 2
    entries = reader.call("audit", {"limit": 5})["entries"]
    assert ("bob", "approve", "ResourceDefinition/pg-prod@2") in [
        (e["actor"], e["action"], e["object"]) for e in entries
    ]


def test_the_same_flow_through_the_pages(changing_platform: RunningCollector, monkeypatch: Any) -> None:
    collector = changing_platform
    at = page(open_app(monkeypatch, collector.api, scenario.TOKENS["alice"][0]), "catalog")
    at.selectbox(key="edit_choice").set_value("pg-prod").run()
    at.segmented_control(key="edit_mode").set_value("YAML").run()
    yaml_box = next(t for t in at.text_area if t.label == "ResourceDefinition (YAML)")
    assert at.button(key="edit_submit").disabled  # not before the blast radius is seen
    yaml_box.input(yaml_box.value.replace("pg-prod.internal", "pg-prod-3.internal")).run()
    at.button(key="edit_plan").click().run()
    assert problems(at) == []
    assert "Blast radius: 4 consumers in" in texts(at)
    blast = next(frame for frame in frames(at) if "change" in frame.columns)
    assert set(blast["change"]) == {"changes"} and blast["outputs"].str.contains("pg-prod-3.internal").all()
    at.button(key="edit_submit").click().run()
    assert problems(at) == []
    assert "pg-prod: proposed. version 2 awaits approval" in texts(at)

    monkeypatch.setenv("TRELLIS_TOKEN", scenario.TOKENS["bob"][0])
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    bob = AppTest.from_file(str(APP), default_timeout=60).run()
    bob = page(bob, "approvals")
    assert "pg-prod · version 2 · proposed by alice" in [e.label for e in bob.expander]
    bob.button(key="approve_pg-prod_2").click().run()
    assert problems(bob) == []
    assert "pg-prod version 2: version 2 is active" in texts(bob)
    bob = page(bob, "catalog")
    definitions = frames(bob)[0]
    assert definitions.loc[definitions["definition"] == "pg-prod", "active"].item() == 2


def test_an_edit_survives_switching_between_form_and_yaml(
    changing_platform: RunningCollector, monkeypatch: Any
) -> None:
    """Switching the editor from Form to YAML once dropped the edit."""
    at = page(open_app(monkeypatch, changing_platform.api, scenario.TOKENS["alice"][0]), "catalog")
    at.selectbox(key="edit_choice").set_value("pg-prod").run()
    next(t for t in at.text_input if t.label == "Description").input("edited in the form").run()

    at.segmented_control(key="edit_mode").set_value("YAML").run()
    yaml_box = next(t for t in at.text_area if t.label == "ResourceDefinition (YAML)")
    assert "description: edited in the form" in yaml_box.value
    yaml_box.input(yaml_box.value.replace("edited in the form", "edited in YAML")).run()

    at.segmented_control(key="edit_mode").set_value("Form").run()
    assert problems(at) == []
    assert next(t for t in at.text_input if t.label == "Description").value == "edited in YAML"
    at.segmented_control(key="edit_mode").set_value("YAML").run()
    assert (
        "description: edited in YAML" in next(t for t in at.text_area if t.label == "ResourceDefinition (YAML)").value
    )
