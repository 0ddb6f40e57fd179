"""Applying an import: an ``ImportResult``'s definitions into the catalog in one transaction.

Applying the same file again changes nothing. Two rules protect what the platform team did in the
catalog meanwhile:

* an import never takes over a definition that came from elsewhere (a hand-written one, or one
  imported from another source or address): ``ImportConflictError`` and nothing changes;
* criteria belong to the catalog unless the import sets them: a definition whose criteria the
  source does not give keeps the criteria of its latest version, so criteria added after the first
  import survive every re-import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trellis.catalog.documents import Source
from trellis.catalog.importers.errors import ImportConflictError, LegacyImportError
from trellis.catalog.importers.results import ImportResult, Skipped
from trellis.catalog.models import ResourceDefinition

if TYPE_CHECKING:
    from trellis.catalog.repository import VersionRow
    from trellis.catalog.service import Catalog, Change


@dataclass
class ImportReport:
    """What applying an import did (or, with ``dry_run``, would do)."""

    source: str
    file: str
    dry_run: bool
    changes: list[Change]
    """One per definition: created, proposed (a new version) or unchanged; see ``Catalog.apply``."""
    skipped: list[Skipped]
    definitions: list[ResourceDefinition]
    """As applied: criteria kept from the catalog are filled in."""
    vanished: list[str] = field(default_factory=list)
    """Ids of legacy definitions imported from this file earlier whose resource is no longer in it.

    They are left alone: retiring a definition (deprecate, archive) is the platform team's decision.
    """

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "file": self.file,
            "dry_run": self.dry_run,
            "changes": [c.as_dict() for c in self.changes],
            "skipped": [s._asdict() for s in self.skipped],
            "vanished": self.vanished,
        }


def origin(provenance: dict[str, str] | None) -> dict[str, str]:
    """What identifies where a definition came from: its provenance apart from the file.

    A file that moves still holds the same resources, so the file is left out.
    """
    return {k: v for k, v in (provenance or {}).items() if k != "file"}


def apply_import(catalog: Catalog, result: ImportResult, actor: str, dry_run: bool = False) -> ImportReport:
    """Apply an import's definitions in one transaction; with ``dry_run`` report the plan and change nothing.

    Raises ``ImportConflictError`` when an id belongs to a definition from elsewhere, and
    ``CatalogError`` when the catalog refuses a definition (a policy, clashing criteria); in both
    cases nothing changes.
    """
    # One transaction keeps the checks and the apply together (apply's own transaction nests in it).
    with catalog.transaction():
        documents: list[tuple[ResourceDefinition, Source]] = []
        seen: set[str] = set()
        for document, source in result.documents():
            definition_id = document.metadata.id
            where = result.locations.get(definition_id)
            if definition_id in seen:
                raise LegacyImportError(result.file, f"definition id {definition_id} appears twice", where)
            seen.add(definition_id)
            documents.append((_keep_catalog_criteria(catalog, result, document, where), source))
        changes = catalog.apply(documents, actor, dry_run=dry_run)
        vanished = _vanished(catalog, result)
    return ImportReport(
        source=result.source,
        file=result.file,
        dry_run=dry_run,
        changes=changes,
        skipped=list(result.skipped),
        definitions=[d for d, _ in documents],
        vanished=vanished,
    )


def _keep_catalog_criteria(
    catalog: Catalog, result: ImportResult, document: ResourceDefinition, where: str | None
) -> ResourceDefinition:
    """Refuse to take over a definition from elsewhere; fill in the catalog's criteria unless the source sets them."""
    definition_id = document.metadata.id
    existing = catalog.repo.definition(definition_id)
    if existing is None:
        return document
    latest = catalog.latest(definition_id)
    if not existing["legacy"] or latest is None or not latest.spec.legacy:
        raise ImportConflictError(
            result.file,
            f"definition {definition_id} already exists and was not imported; the import does not take it over "
            "(rename or retire the existing definition first)",
            where,
        )
    theirs = latest.spec.provenance
    if origin(theirs) != origin(document.spec.provenance):
        raise ImportConflictError(
            result.file,
            f"definition {definition_id} was imported from {_describe(theirs)}, "
            f"not from {_describe(document.spec.provenance)}; the import does not take it over",
            where,
        )
    if definition_id in result.criteria_from_source:
        return document
    spec = document.spec.model_copy(update={"criteria": list(latest.spec.criteria)})
    return document.model_copy(update={"spec": spec})


def _describe(provenance: dict[str, str] | None) -> str:
    if not provenance:
        return "an unknown source"
    return ", ".join(f"{k} {v}" for k, v in provenance.items())


_LIVE_STATES = ("active", "proposed", "deprecated")


def _vanished(catalog: Catalog, result: ImportResult) -> list[str]:
    """Live legacy definitions imported earlier from this source, file and namespace that the import no longer holds."""
    imported = {d.metadata.id for d in result.definitions}
    latest: dict[str, VersionRow] = {}
    for row in catalog.repo.versions(states=_LIVE_STATES):
        latest[row.definition_id] = row
    gone = []
    for definition_id, row in sorted(latest.items()):
        provenance = row.spec.provenance or {}
        if definition_id in imported or not row.spec.legacy:
            continue
        if (provenance.get("source"), provenance.get("file"), provenance.get("namespace")) == (
            result.source,
            result.file,
            result.namespace,
        ):
            gone.append(definition_id)
    return gone


__all__ = ["ImportReport", "apply_import", "origin"]
