"""The store: the one read-write DuckDB connection, owned by one writer thread.

Receivers hand the store decoded batches through a bounded queue and wait for
the commit; the writer drains whatever is queued and commits it in one
transaction (group commit). Readers get their own cursors on the same
database, so queries run beside ingest without blocking it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from trellis.collector import resources
from trellis.collector.batch import ExportBatch
from trellis.collector.events import UPSERT_SQL
from trellis.collector.health import StoreHealth
from trellis.collector.late_points import LateHours
from trellis.collector.messages import first_line
from trellis.collector.schema import TABLES, migrate, use_utc
from trellis.collector.settings import MEMORY_LIMIT, MEMORY_LIMIT_PATTERN
from trellis.collector.webhooks.records import WEBHOOK_SQL

log = logging.getLogger("trellis.store")

GROUP_MAX_JOBS = 256
GROUP_MAX_POINTS = 300_000
"""A commit takes what is queued up to these: enough rows per table for DuckDB to write
whole row groups (122,880 rows) straight to the file, few enough to bound the memory of
one transaction."""

CHECKPOINT_EVERY_POINTS = 1_000_000
"""The writer checkpoints after committing this many points. Rows DuckDB wrote straight
to the file hardly grow the WAL, so its own WAL-size trigger fires rarely under heavy
ingest, and then one checkpoint compacts millions of rows: seconds of stalled commits
and a memory peak. Checkpointing at a steady pace bounds both."""


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


def open_database(path: Path, snapshot_dir: Path, memory_limit: str | None = MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """Open the collector's database read-write, migrated, with file and network access off."""
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    use_utc(con)
    migrate(con)
    con.execute(f"SET allowed_directories=['{snapshot_dir.resolve()}/']")
    con.execute("SET enable_external_access=false")
    con.execute("SET autoinstall_known_extensions=false")
    con.execute("SET autoload_known_extensions=false")
    if memory_limit is not None:
        if not re.match(MEMORY_LIMIT_PATTERN, memory_limit):
            raise ValueError(f"memory_limit must look like 512MB or 2GiB, not {memory_limit!r}")
        con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute("SET lock_configuration=true")
    return con


class Store:
    """The collector's database: a writer thread with group commit, and read cursors."""

    def __init__(
        self,
        path: Path,
        max_queue_points: int = 2_000_000,
        memory_limit: str | None = MEMORY_LIMIT,
        max_queue_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.path = path
        self.snapshot_dir = path.parent / f".{path.name}.snapshots"
        self.con = open_database(path, self.snapshot_dir, memory_limit)
        self.health = StoreHealth(path)
        self.late_hours = LateHours()
        """Set by the rollups: the writer marks the hours of metric points older than what they cover."""
        self.max_queue_points = max_queue_points
        self.max_queue_bytes = max_queue_bytes
        self._queued_bytes = 0
        self.counters = IngestCounters()
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._queued_points = 0
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._run, name="trellis-writer", daemon=True)
        self._writer.start()

    @property
    def queued_points(self) -> int:
        return self._queued_points

    @property
    def queued_bytes(self) -> int:
        """Arrow bytes of the batches waiting to be written."""
        return self._queued_bytes

    def is_full(self) -> bool:
        """Whether new exports should be told to come back later (points or bytes at their limit)."""
        return self._queued_points >= self.max_queue_points or self._queued_bytes >= self.max_queue_bytes

    def submit(self, batch: ExportBatch) -> Future[None]:
        """Queue a batch; the future completes once its rows are committed."""
        size, nbytes = max(batch.accepted, 1), batch.nbytes
        with self._lock:
            if self._queued_points and self._queued_points + size > self.max_queue_points:
                raise QueueFull(f"the write queue holds {self._queued_points} points")
            if self._queued_bytes and self._queued_bytes + nbytes > self.max_queue_bytes:
                raise QueueFull(f"the write queue holds {self._queued_bytes} bytes")
            self._queued_points += size
            self._queued_bytes += nbytes
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
        """Write what is queued, stop the writer and checkpoint the database.

        A checkpoint that fails (a full disk, an invalidated database) loses nothing: every committed
        export is in the write-ahead log, which the next start replays."""
        self._queue.put(None)
        self._writer.join()
        try:
            if not self.health.invalidated:
                self.con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            log.warning(
                "no checkpoint at shutdown (%s); the write-ahead log is replayed at the next start", first_line(exc)
            )
        try:
            self.con.close()
        except duckdb.Error as exc:
            log.warning("closing the database: %s", first_line(exc))

    def _run(self) -> None:
        cur = self.con.cursor()
        since_checkpoint = 0
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            stop = self._drain(jobs)
            self._commit_group(cur, jobs)
            since_checkpoint += sum(j.batch.accepted for j in jobs)
            if since_checkpoint >= CHECKPOINT_EVERY_POINTS:
                self.health.record(_checkpoint(cur))
                since_checkpoint = 0
            if stop:
                return

    def _drain(self, jobs: list[_Job]) -> bool:
        points = sum(j.batch.accepted for j in jobs)
        while len(jobs) < GROUP_MAX_JOBS and points < GROUP_MAX_POINTS:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            jobs.append(job)
            points += job.batch.accepted
        return False

    def _commit_group(self, cur: duckdb.DuckDBPyConnection, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            self._write_jobs(cur, jobs)
            log.debug(
                "committed %d exports (%d points) in %.3f s",
                len(jobs),
                sum(j.batch.accepted for j in jobs),
                time.perf_counter() - started,
            )
        except Exception as exc:
            if isinstance(exc, STORAGE_ERRORS):
                log.error("group commit of %d exports failed (%s); writing them one by one", len(jobs), first_line(exc))
            else:
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
        _begin(cur)
        try:
            resources.insert_resources(cur, _combined_resources(jobs))
            for table, data in _combined_tables(jobs):
                resources.insert(cur, table, data)
                self.late_hours.mark(cur, table, data)
            for job in jobs:  # upserts in arrival order: a later event wins
                _upsert_projections(cur, job.batch)
            cur.execute("COMMIT")
        except Exception:
            _rollback(cur)  # a failed COMMIT has ended the transaction already
            raise

    def _finish(self, jobs: list[_Job], error: Exception | None) -> None:
        self.health.record(error)
        points = sum(j.batch.accepted for j in jobs)
        with self._lock:
            self._queued_points -= sum(max(j.batch.accepted, 1) for j in jobs)
            self._queued_bytes -= sum(j.batch.nbytes for j in jobs)
        if error is None:
            self.counters.record(points, sum(j.batch.rejected.count for j in jobs))
        for job in jobs:
            if error is None:
                job.done.set_result(None)
            else:
                job.done.set_exception(error)


_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int | None:
    """DuckDB's memory_limit in bytes (None when it cannot be read)."""
    try:
        text = str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    except duckdb.Error:
        return None
    number = text.upper().rstrip("BI KMGT")
    unit = text.upper()[len(number) :].replace(" ", "")
    try:
        return int(float(number) * _UNITS[unit])
    except (KeyError, ValueError):
        return None


def _checkpoint(cur: duckdb.DuckDBPyConnection) -> duckdb.Error | None:
    """Checkpoint now; the error when it fails (a snapshot being copied only delays it; a full disk
    invalidates the database, which the store's health then reports)."""
    started = time.perf_counter()
    try:
        cur.execute("CHECKPOINT")
    except duckdb.Error as exc:
        storage = isinstance(exc, STORAGE_ERRORS)
        log.log(logging.ERROR if storage else logging.DEBUG, "checkpoint failed: %s", first_line(exc))
        return exc if storage else None
    log.debug("checkpoint in %.3f s", time.perf_counter() - started)
    return None


STORAGE_ERRORS = (duckdb.IOException, duckdb.FatalException, OSError)
"""Failures of the disk under the database rather than of the rows: logged as one line."""


def _begin(cur: duckdb.DuckDBPyConnection) -> None:
    """Begin a transaction, first ending one that a failed rollback left open (DuckDB's memory was full)."""
    try:
        cur.execute("BEGIN TRANSACTION")
    except duckdb.TransactionException:
        cur.execute("ROLLBACK")
        cur.execute("BEGIN TRANSACTION")


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        cur.execute("ROLLBACK")


def _combined_tables(jobs: list[_Job]) -> list[tuple[str, pa.Table]]:
    """The jobs' rows per signal table, concatenated in job order: one INSERT per table per commit.

    Each INSERT has a fixed cost, and DuckDB writes a large insert straight
    to the database file, compressed, instead of into the WAL first. Tables
    are only concatenated with others of the same Arrow schema (decoders hand
    over dictionary-encoded columns, other callers may not), so a table can
    get one INSERT per run of equal schemas.
    """
    runs: dict[str, list[list[pa.Table]]] = {}
    for job in jobs:
        for table, data in job.batch.tables.items():
            assert table in TABLES
            table_runs = runs.setdefault(table, [])
            if table_runs and table_runs[-1][0].schema.equals(data.schema):
                table_runs[-1].append(data)
            else:
                table_runs.append([data])
    return [
        (table, parts[0] if len(parts) == 1 else pa.concat_tables(parts))
        for table, table_runs in runs.items()
        for parts in table_runs
    ]


def _combined_resources(jobs: list[_Job]) -> pa.Table:
    """The resources the jobs' rows refer to, in one table (with repeats)."""
    return pa.concat_tables([j.batch.resources for j in jobs])


PROJECTION_SQL = {**UPSERT_SQL, **WEBHOOK_SQL}
"""How each projection a batch may carry is written: the events' upserts and the webhook deliveries' rows."""


def _upsert_projections(cur: duckdb.DuckDBPyConnection, batch: ExportBatch) -> None:
    for table, data in batch.projections.items():
        cur.register("projection", data)
        try:
            cur.execute(PROJECTION_SQL[table])
        finally:
            cur.unregister("projection")
