"""Importing legacy resources into the catalog: from Terraform state and from a CSV file.

Every importer works in two steps. Reading (``read_terraform``, ``read_csv``)
turns a file into an ``ImportResult``: ``ResourceDefinition`` documents
(static driver, ``legacy: true``, provenance) and the things skipped with the
reason. Reading never touches the catalog. ``apply_import`` then puts the
definitions in the catalog in one transaction; applying the same file again
changes nothing.

Two rules protect what the platform team did in the catalog meanwhile:

* an import never takes over a definition that came from elsewhere (a
  hand-written one, or one imported from another source or address):
  ``ImportConflictError`` and nothing changes;
* criteria belong to the catalog unless the import sets them: a definition
  whose criteria the source does not give keeps the criteria of its latest
  version, so criteria added after the first import survive every re-import.

Secret outputs are always ``${secret:...}`` references derived from the
resource; no importer copies a secret value from its source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from trellis.catalog.documents import Source
from trellis.catalog.models import ResourceDefinition

if TYPE_CHECKING:
    from trellis.catalog.repository import VersionRow
    from trellis.catalog.service import Catalog, Change


class LegacyImportError(ValueError):
    """A file that cannot be imported; the message names the file, where in it, and what is wrong.

    Nothing in the catalog changes when it is raised. ``status`` is the HTTP status that fits.
    """

    status = 400

    def __init__(self, file: str, problem: str, where: str | None = None) -> None:
        self.file = file
        self.where = where
        self.problem = problem
        super().__init__(f"{file}, {where}: {problem}" if where else f"{file}: {problem}")


class ImportConflictError(LegacyImportError):
    """An imported definition's id belongs to a definition that came from somewhere else."""

    status = 409


class Skipped(NamedTuple):
    """Something in the source that was not imported, and why."""

    address: str
    reason: str


@dataclass(frozen=True)
class ImportSource(Source):
    """A ``Source`` that names the place in the imported file (resource address, CSV line) in messages."""

    where: str = ""

    def __str__(self) -> str:
        return f"{self.file} ({self.where})" if self.where else super().__str__()


@dataclass
class ImportResult:
    """What a file holds: definitions to apply and what was skipped; nothing is applied yet."""

    source: str
    """``terraform`` or ``csv``; also ``spec.provenance.source`` of every definition."""
    file: str
    definitions: list[ResourceDefinition] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)
    """Definition id -> where in the file it came from (a resource address, ``line 4``)."""
    criteria_from_source: set[str] = field(default_factory=set)
    """Ids whose criteria the source sets; the others keep the criteria already in the catalog."""
    namespace: str | None = None
    """Set when several files with the same addresses are imported (see ``read_terraform``)."""

    def documents(self) -> list[tuple[ResourceDefinition, Source]]:
        """The definitions as ``Catalog.apply`` takes them."""
        return [
            (d, ImportSource(self.file, i, self.locations.get(d.metadata.id, "")))
            for i, d in enumerate(self.definitions)
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "file": self.file,
            "definitions": [d.model_dump(mode="json", by_alias=True, exclude_none=True) for d in self.definitions],
            "skipped": [s._asdict() for s in self.skipped],
        }


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


def normalize_file(file: str | os.PathLike[str]) -> str:
    """The file name recorded in provenance: as given, with ``./`` and ``a/../`` removed."""
    return os.path.normpath(os.fspath(file))


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
    # The catalog's lock (re-entrant, also taken by apply) keeps the checks and the apply together.
    with catalog.lock:
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


__all__ = [
    "ImportConflictError",
    "ImportReport",
    "ImportResult",
    "ImportSource",
    "LegacyImportError",
    "Skipped",
    "apply_import",
]
