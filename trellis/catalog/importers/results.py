"""What reading a file gives: an ``ImportResult``, the definitions to apply and what was skipped, and why.

Reading never touches the catalog; ``trellis.catalog.importers.apply`` puts a result in it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from trellis.catalog.documents import Source
from trellis.catalog.models import ResourceDefinition


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
    """The importer's name (``terraform``, ``csv``); also ``spec.provenance.source`` of every definition."""
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


def normalize_file(file: str | os.PathLike[str]) -> str:
    """The file name recorded in provenance: as given, with ``./`` and ``a/../`` removed."""
    return os.path.normpath(os.fspath(file))


__all__ = ["ImportResult", "ImportSource", "Skipped", "normalize_file"]
