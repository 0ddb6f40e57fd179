"""The errors the catalog raises when it refuses a request, each with the HTTP status that fits.

They live below every other catalog module so that any of them (the service, resolution, the
importers) can raise them without importing the service; ``trellis.catalog.service`` re-exports them.
"""

from __future__ import annotations


class CatalogError(ValueError):
    """A request the catalog refuses; ``status`` is the HTTP status that fits."""

    keeps_changes = False
    """True for a refusal whose records must stay: the transaction commits before it is raised."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ResolveError(CatalogError):
    """Some resources of a workload matched no definition; they were recorded as misses."""

    keeps_changes = True


__all__ = ["CatalogError", "ResolveError"]
