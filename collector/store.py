"""The store: the one read-write DuckDB connection, owned by one writer thread.

Receivers hand the store decoded batches through a bounded queue and wait for
the commit; the writer drains whatever is queued and commits it in one
transaction (group commit). Readers get their own cursors on the same
database, so queries run beside ingest without blocking it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from collector.batch import ExportBatch
from collector.events import UPSERT_SQL
from collector.schema import TABLES, migrate

log = logging.getLogger("trellis.store")


class QueueFull(RuntimeError):
    """The write queue holds more points than allowed; the client should retry later."""


@dataclass
class _Job:
    batch: ExportBatch
    done: Future[None] = field(default_factory=Future)


@dataclass
class IngestCounters:
    """What the store has done since it started, for /api/v1/stats."""

    points_ingested: int = 0
    points_rejected: int = 0
    commits: int = 0
    last_commit_at: float | None = None
    recent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=600))

    def record(self, points: int, rejected: int) -> None:
        now = time.time()
        self.points_ingested += points
        self.points_rejected += rejected
        self.commits += 1
        self.last_commit_at = now
        self.recent.append((now, points))

    def rate(self, window: float = 10.0) -> float:
        """Points per second committed over the last ``window`` seconds."""
        since = time.time() - window
        return sum(n for t, n in list(self.recent) if t >= since) / window


def open_database(path: Path, snapshot_dir: Path) -> duckdb.DuckDBPyConnection:
    """Open the collector's database read-write, migrated, with file and network access off."""
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    migrate(con)
    con.execute(f"SET allowed_directories=['{snapshot_dir.resolve()}/']")
    con.execute("SET enable_external_access=false")
    con.execute("SET autoinstall_known_extensions=false")
    con.execute("SET autoload_known_extensions=false")
    con.execute("SET lock_configuration=true")
    return con


class Store:
    """The collector's database: a writer thread with group commit, and read cursors."""

    def __init__(self, path: Path, max_queue_points: int = 2_000_000) -> None:
        self.path = path
        self.snapshot_dir = path.parent / f".{path.name}.snapshots"
        self.con = open_database(path, self.snapshot_dir)
        self.max_queue_points = max_queue_points
        self.counters = IngestCounters()
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._queued_points = 0
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._run, name="trellis-writer", daemon=True)
        self._writer.start()

    @property
    def queued_points(self) -> int:
        return self._queued_points

    def submit(self, batch: ExportBatch) -> Future[None]:
        """Queue a batch; the future completes once its rows are committed."""
        size = max(batch.accepted, 1)
        with self._lock:
            if self._queued_points and self._queued_points + size > self.max_queue_points:
                raise QueueFull(f"the write queue holds {self._queued_points} points")
            self._queued_points += size
        job = _Job(batch)
        self._queue.put(job)
        return job.done

    def write(self, batch: ExportBatch, timeout: float | None = None) -> None:
        """Queue a batch and wait for its commit."""
        self.submit(batch).result(timeout)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one reading thread."""
        return self.con.cursor()

    def close(self) -> None:
        """Write what is queued, stop the writer and checkpoint the database."""
        self._queue.put(None)
        self._writer.join()
        self.con.execute("CHECKPOINT")
        self.con.close()

    def _run(self) -> None:
        cur = self.con.cursor()
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            stop = self._drain(jobs)
            self._commit_group(cur, jobs)
            if stop:
                return

    def _drain(self, jobs: list[_Job]) -> bool:
        while len(jobs) < 256:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            jobs.append(job)
        return False

    def _commit_group(self, cur: duckdb.DuckDBPyConnection, jobs: list[_Job]) -> None:
        try:
            self._write_jobs(cur, jobs)
        except Exception:
            log.exception("group commit of %d exports failed; writing them one by one", len(jobs))
            for job in jobs:
                self._commit_one(cur, job)
            return
        self._finish(jobs, None)

    def _commit_one(self, cur: duckdb.DuckDBPyConnection, job: _Job) -> None:
        try:
            self._write_jobs(cur, [job])
        except Exception as exc:
            self._finish([job], exc)
        else:
            self._finish([job], None)

    def _write_jobs(self, cur: duckdb.DuckDBPyConnection, jobs: list[_Job]) -> None:
        cur.execute("BEGIN TRANSACTION")
        try:
            for job in jobs:
                _insert_batch(cur, job.batch)
            cur.execute("COMMIT")
        except Exception:
            cur.execute("ROLLBACK")
            raise

    def _finish(self, jobs: list[_Job], error: Exception | None) -> None:
        points = sum(j.batch.accepted for j in jobs)
        with self._lock:
            self._queued_points -= sum(max(j.batch.accepted, 1) for j in jobs)
        if error is None:
            self.counters.record(points, sum(j.batch.rejected.count for j in jobs))
        for job in jobs:
            if error is None:
                job.done.set_result(None)
            else:
                job.done.set_exception(error)


def _insert_batch(cur: duckdb.DuckDBPyConnection, batch: ExportBatch) -> None:
    for table, data in batch.tables.items():
        assert table in TABLES
        cur.register("incoming", data)
        try:
            cur.execute(f"INSERT INTO {table} SELECT * FROM incoming")
        finally:
            cur.unregister("incoming")
    for table, data in batch.projections.items():
        cur.register("projection", data)
        try:
            cur.execute(UPSERT_SQL[table])
        finally:
            cur.unregister("projection")
