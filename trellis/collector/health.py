"""Whether the store can take writes, and why not: what health, ingest and the server act on.

Two conditions stop writes. A commit that fails because the disk is full (or another I/O error)
leaves the database usable: the next commit may succeed once there is space, and the first one
that does clears the failure. A failed checkpoint makes DuckDB invalidate the database: nothing
more can be read or written in this process, and only a new process, which replays the
write-ahead log, can open it again. Either way every acknowledged export is on disk.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import duckdb

SPACE_TO_RESTART = 64 * 1024 * 1024
"""Free bytes beside the database that count as 'space is back' after an invalidation (or a quarter
of a smaller filesystem)."""


class StoreHealth:
    """The store's last write failure, set by the writer and read by every request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.failure: str | None = None
        self.invalidated = False
        self._lock = threading.Lock()

    @property
    def healthy(self) -> bool:
        return self.failure is None

    def record(self, error: BaseException | None) -> None:
        """What a commit or checkpoint came to: None for success, else the error it raised."""
        with self._lock:
            if self.invalidated:
                return
            if error is None:
                self.failure = None
            elif isinstance(error, duckdb.FatalException):
                self.invalidated = True
                self.failure = f"the database needs a restart: {_cause(error)}"
            elif _is_storage_error(error):
                self.failure = f"cannot write to {self.path.parent}: {_cause(error)}"

    def space_is_back(self) -> bool:
        """Whether the disk beside the database has room again (what a restart needs)."""
        try:
            usage = shutil.disk_usage(self.path.parent)
        except OSError:
            return False
        return usage.free >= min(SPACE_TO_RESTART, usage.total // 4)


def _is_storage_error(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, (duckdb.IOException, OSError)) or "No space left" in text or "Could not write" in text


def _cause(error: BaseException) -> str:
    """The first line that says what happened: DuckDB puts the original error on a later line."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    original = next((line for line in lines if line.startswith("Original error")), None)
    text = original.split(":", 1)[1].strip().strip('"') if original else (lines[0] if lines else type(error).__name__)
    return text


__all__ = ["SPACE_TO_RESTART", "StoreHealth"]
