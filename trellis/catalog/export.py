"""Exporting the catalog as documents that apply cleanly: the round trip of GitOps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trellis.catalog.documents import to_yaml
from trellis.catalog.models import API_VERSION

if TYPE_CHECKING:
    from trellis.catalog.service import Catalog

_FOLDERS = {
    "Environment": "environments",
    "Team": "teams",
    "ResourceType": "types",
    "Policy": "policies",
    "ApprovalRule": "approval-rules",
    "ResourceDefinition": "definitions",
    "Pin": "pins",
}


def _document(
    kind: str, object_id: str, description: str | None, spec: dict[str, Any], team: str | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"id": object_id}
    if description:
        metadata["description"] = description
    if team:
        metadata["team"] = team
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def export_documents(catalog: Catalog) -> list[dict[str, Any]]:
    """Every object as a document; a definition as its latest active or proposed version."""
    documents = []
    owners = catalog.repo.owners()
    for kind in ("Environment", "Team", "ResourceType", "Policy", "ApprovalRule"):
        descriptions = catalog.repo.object_meta(kind)
        for object_id, spec in catalog.repo.objects(kind).items():
            documents.append(
                _document(kind, object_id, descriptions.get(object_id), spec, owners.get((kind, object_id)))
            )
    for definition_id in catalog.repo.definition_ids():
        versions = [v for v in catalog.repo.versions(definition_id) if v.state in ("active", "proposed")]
        definition = catalog.repo.definition(definition_id)
        if versions and definition is not None:
            spec = versions[-1].spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            team = owners.get(("ResourceDefinition", definition_id))
            documents.append(_document("ResourceDefinition", definition_id, definition["description"], spec, team))
    descriptions = catalog.repo.object_meta("Pin")
    for object_id, spec in catalog.repo.objects("Pin").items():
        documents.append(_document("Pin", object_id, descriptions.get(object_id), spec, owners.get(("Pin", object_id))))
    return documents


def write_documents(documents: list[dict[str, Any]], folder: Path) -> list[Path]:
    """One YAML file per document, in a folder per kind; returns the files written."""
    written = []
    for document in documents:
        path = folder / _FOLDERS[document["kind"]] / f"{document['metadata']['id']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_yaml([document]))
        written.append(path)
    return written
