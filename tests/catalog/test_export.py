"""Export: the catalog as documents that apply cleanly, the GitOps round trip."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.catalog.conftest import (
    OUTPUTS,
    Clock,
    apply_docs,
    definition,
    document,
    new_catalog,
    pin,
    production_approval_rule,
)
from trellis.catalog.documents import read_path
from trellis.catalog.export import export_documents, write_documents
from trellis.catalog.service import Catalog

QUEUE = document(
    "ResourceType",
    "queue",
    {"params_schema": {"type": "object", "properties": {"size": {"type": "integer"}}},
     "outputs": {"url": {"description": "AMQP URL"}, "password": {"secret": True}}},
)  # fmt: skip
POLICY = document(
    "Policy",
    "backups",
    {"match": {"type": "postgres"}, "rule": {"path": "params.backup_retention_days", "op": "gte", "value": 7},
     "effect": "warn", "message": "keep a week of backups"},
)  # fmt: skip


@pytest.fixture
def full(catalog: Catalog, clock: Clock) -> Catalog:
    """Every kind of object, a definition with two versions, a description, a template and a pin."""
    apply_docs(
        catalog,
        QUEUE,
        POLICY,
        production_approval_rule(approvals=1, group="dbas"),
        definition("orders", criteria=[{"env_type": "development"}], params={"backup_retention_days": 7},
                   description="orders database for development"),
        definition("jobs", type_="queue", criteria=[{"app_id": "shop", "class": "large"}], driver="template",
                   outputs={"url": "amqp://{{ context.app }}.{{ context.env }}", "password": "${secret:mq#pw}"},
                   params={"size": 3}),
        definition("dns", type_="dns", criteria=[{}], legacy=True, provenance={"source": "terraform"}),
    )  # fmt: skip
    changed = definition(
        "orders",
        criteria=[{"env_type": "development"}],
        params={"backup_retention_days": 9},
        description="orders database for development",
    )
    apply_docs(catalog, changed)
    apply_docs(catalog, pin("hold", "orders", 1, clock.now + timedelta(days=30)))
    return catalog


def test_exporting_then_applying_the_export_changes_nothing(full: Catalog, tmp_path: Path) -> None:
    written = write_documents(export_documents(full), tmp_path)

    changes = full.apply(read_path(tmp_path), "alice")

    assert len(changes) == len(written) == 7
    assert {(c.kind, c.id): c.action for c in changes} == {
        ("ResourceType", "queue"): "unchanged",
        ("Policy", "backups"): "unchanged",
        ("ApprovalRule", "production-changes"): "unchanged",
        ("ResourceDefinition", "dns"): "unchanged",
        ("ResourceDefinition", "jobs"): "unchanged",
        ("ResourceDefinition", "orders"): "unchanged",
        ("Pin", "hold"): "unchanged",
    }


def test_one_file_per_object_in_a_folder_per_kind(full: Catalog, tmp_path: Path) -> None:
    written = write_documents(export_documents(full), tmp_path)

    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "approval-rules/production-changes.yaml",
        "definitions/dns.yaml",
        "definitions/jobs.yaml",
        "definitions/orders.yaml",
        "pins/hold.yaml",
        "policies/backups.yaml",
        "types/queue.yaml",
    ]
    text = (tmp_path / "definitions" / "orders.yaml").read_text()
    assert "description: orders database for development" in text
    assert "backup_retention_days: 9" in text  # the active version, not the deprecated one


def test_a_definition_exports_its_latest_active_or_proposed_version(catalog: Catalog) -> None:
    apply_docs(catalog, production_approval_rule(), definition("orders", criteria=[{"env_type": "development"}]))
    apply_docs(catalog, definition("orders", criteria=[{"env_type": "production"}]))  # awaits approval

    (exported,) = [d for d in export_documents(catalog) if d["kind"] == "ResourceDefinition"]

    assert exported["spec"]["criteria"] == [{"env_type": "production"}]
    assert apply_docs(catalog, exported)[0].action == "unchanged"


def test_the_export_applied_to_a_fresh_database_reproduces_the_catalog(tmp_path: Path) -> None:
    source = new_catalog()
    apply_docs(
        source,
        QUEUE,
        POLICY,
        definition("orders", params={"backup_retention_days": 7}, description="the orders db"),
        definition("jobs", type_="queue", outputs={"url": "amqp://x", "password": "${secret:mq#pw}"}),
    )
    apply_docs(source, pin("hold", "orders", 1, source.now() + timedelta(days=3)))
    write_documents(export_documents(source), tmp_path)

    fresh = new_catalog()
    changes = fresh.apply(read_path(tmp_path), "bootstrap")

    assert {c.action for c in changes} == {"created"}
    assert export_documents(fresh) == export_documents(source)
    assert [(v.definition_id, v.version, v.state, v.content_hash) for v in fresh.repo.versions()] == [
        (v.definition_id, v.version, v.state, v.content_hash) for v in source.repo.versions()
    ]
    assert fresh.repo.definition("orders")["description"] == "the orders db"  # type: ignore[index]


def test_exported_documents_leave_defaults_out(catalog: Catalog) -> None:
    apply_docs(catalog, definition("dns", type_="dns", criteria=[{}]))

    (exported,) = export_documents(catalog)

    assert exported == {
        "apiVersion": "trellis/v1",
        "kind": "ResourceDefinition",
        "metadata": {"id": "dns"},
        "spec": {"type": "dns", "driver": "static", "outputs": OUTPUTS["dns"], "criteria": [{}]},
    }
