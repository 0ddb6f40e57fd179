"""Importing legacy resources into the catalog: from Terraform state, from a CSV file, or any registered format.

Every importer works in two steps. Reading (``read_terraform``, ``read_csv``, or ``Importer.read``
of an entry of ``IMPORTERS``) turns a file into an ``ImportResult``: ``ResourceDefinition``
documents (static driver, ``legacy: true``, provenance) and the things skipped with the reason.
Reading never touches the catalog. ``apply_import`` then puts the definitions in the catalog in one
transaction; applying the same file again changes nothing, and an import never takes over a
definition that came from elsewhere (see ``trellis.catalog.importers.apply``).

Secret outputs are always ``${secret:...}`` references derived from the resource; no importer
copies a secret value from its source.

The modules: ``registry`` (the ``Importer`` seam and ``IMPORTERS``), ``results`` (what reading
gives), ``apply`` (applying it), ``errors``, and one module or package per built-in format
(``terraform``, ``csv_layout``).
"""

from trellis.catalog.importers.apply import ImportReport, apply_import
from trellis.catalog.importers.errors import ImportConflictError, LegacyImportError
from trellis.catalog.importers.registry import IMPORTERS, Importer, importer_for
from trellis.catalog.importers.results import ImportResult, ImportSource, Skipped

__all__ = [
    "IMPORTERS",
    "ImportConflictError",
    "ImportReport",
    "ImportResult",
    "ImportSource",
    "Importer",
    "LegacyImportError",
    "Skipped",
    "apply_import",
    "importer_for",
]
