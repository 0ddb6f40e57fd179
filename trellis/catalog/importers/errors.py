"""The errors of importing: a file that cannot be imported, and an import that would take over a definition."""

from __future__ import annotations


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


__all__ = ["ImportConflictError", "LegacyImportError"]
