"""Snapshots: consistent copies of the database, written beside it and streamed to the client.

A snapshot is a full copy, so they are limited: at most ``max_snapshots`` at a time, and only when
the disk holds another copy with room to spare; a copy is removed as soon as its download ends,
whether the client read it all or went away; copies left by a collector that was killed are
removed when the next one starts.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import duckdb
from starlette.concurrency import run_in_threadpool

log = logging.getLogger("trellis.snapshots")

CHUNK = 1 << 20
"""Bytes read from a copy per chunk sent."""
HEADROOM = 1.2
"""A snapshot is taken only when the disk has room for the database's size times this."""


class SnapshotRefused(Exception):
    """No snapshot now: too many in flight, or not enough disk; the message says which."""


class Snapshots:
    """The snapshots in flight for one store."""

    def __init__(self, db: Path, folder: Path, max_snapshots: int) -> None:
        self.db, self.folder = db, folder
        self._slots = threading.BoundedSemaphore(max_snapshots)
        self.max_snapshots = max_snapshots
        _remove_left_over(folder)

    def in_flight(self) -> int:
        return len(list(self.folder.glob("snapshot-*.duckdb")))

    def take(self, cursor: duckdb.DuckDBPyConnection) -> Path:
        """Write a copy and hold a slot until ``stream`` has sent it; raises SnapshotRefused."""
        if not self._slots.acquire(blocking=False):
            raise SnapshotRefused(f"{self.max_snapshots} snapshots are being taken or downloaded; retry later")
        target = self.folder / f"snapshot-{uuid.uuid4().hex}.duckdb"
        try:
            self._check_space()
            _copy(cursor, target)
        except BaseException:
            target.unlink(missing_ok=True)
            self._slots.release()
            raise
        return target

    async def stream(self, path: Path) -> AsyncIterator[bytes]:
        """The copy's bytes; the copy is removed and its slot freed however the download ends."""
        try:
            with path.open("rb") as copy:
                while chunk := await run_in_threadpool(copy.read, CHUNK):
                    yield chunk
        finally:
            path.unlink(missing_ok=True)
            self._slots.release()

    def _check_space(self) -> None:
        needed = int(_database_bytes(self.db) * HEADROOM)
        free = shutil.disk_usage(self.folder).free
        if free < needed:
            raise SnapshotRefused(f"a snapshot needs about {needed} bytes of disk and {free} are free")


def _database_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + ".wal")) if p.exists())


def _copy(cursor: duckdb.DuckDBPyConnection, target: Path) -> None:
    source = cursor.execute("SELECT current_database()").fetchall()[0][0]
    alias = f"snap_{uuid.uuid4().hex[:12]}"
    cursor.execute(f"ATTACH '{target}' AS {alias}")
    try:
        cursor.execute(f'COPY FROM DATABASE "{source}" TO {alias}')
    finally:
        cursor.execute(f"DETACH {alias}")


def _remove_left_over(folder: Path) -> None:
    for path in folder.glob("snapshot-*.duckdb*"):
        log.info("removing %s, left by a collector that stopped during a download", path.name)
        path.unlink(missing_ok=True)


__all__ = ["SnapshotRefused", "Snapshots"]
