"""The importers by format name: the seam through which legacy resources come into the catalog.

An importer turns a file's content into an ``ImportResult`` and never touches the catalog;
``apply_import`` applies the result. The built-in ``terraform`` and ``csv`` importers are registered
in ``IMPORTERS`` the way another one would be; the CLI (``trellis resources import FORMAT FILE``)
and the API's import operation (which the dashboard calls) find them here by name.
"""

from __future__ import annotations

from typing import Protocol

from trellis.catalog.errors import CatalogError
from trellis.catalog.importers.csv_layout import CsvImporter
from trellis.catalog.importers.results import ImportResult
from trellis.catalog.importers.terraform import TerraformImporter


class Importer(Protocol):
    """Reads one file format into legacy static definitions.

    ``read`` returns every definition the content holds and everything skipped with the reason; it
    raises a ``LegacyImportError`` naming the file, the place in it and the problem when the content
    cannot be imported. It never changes the catalog, and no secret value from the file ends up in a
    definition: secret outputs are ``${secret:...}`` references.
    """

    name: str
    """The format's name: its key in ``IMPORTERS`` and ``spec.provenance.source`` of its definitions."""
    reads: str
    """What it reads, for people: ``the output of `terraform show -json```."""

    def read(self, text: str | bytes, file: str, *, namespace: str | None = None) -> ImportResult:
        """The definitions in ``text``; ``file`` names it in messages and provenance.

        ``namespace`` keeps apart the ids of several files with the same addresses; a format
        without namespaces ignores it.
        """


IMPORTERS: dict[str, Importer] = {importer.name: importer for importer in (TerraformImporter(), CsvImporter())}
"""One importer per format name; the built-in ones go through the same seam an extension would."""


def importer_for(format_name: str) -> Importer:
    """The importer of ``format_name``; a ``CatalogError`` naming the known formats when there is none."""
    importer = IMPORTERS.get(format_name)
    if importer is None:
        known = ", ".join(sorted(IMPORTERS))
        raise CatalogError(f"no importer reads the format {format_name!r}; the known formats are {known}")
    return importer


__all__ = ["IMPORTERS", "Importer", "importer_for"]
