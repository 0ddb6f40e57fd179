"""The open history tier: the days that leave retention, kept as Parquet that DuckDB, Polars and Spark read.

With ``--archive-dir DIR``, a retention sweep writes each day of a signal table it is about to remove to
``DIR/signal=<table>/date=YYYY-MM-DD/part-<digest>.parquet`` (hive partitioning, zstd), inside the
transaction that then deletes the day's rows:

- atomically: the part is written under a hidden temporary name in its partition, flushed to disk
  (fsync), renamed, and the directories flushed; a reader never sees half a part;
- idempotently: a part's name is a digest of its rows, so a day swept twice (the collector stopped
  between the rename and the delete's commit) gets the same name, and the rename replaces the copy; a
  copy whose rows all came back with others (late rows of that day) is removed once the new part is in;
- the delete commits only after the rename: when the write fails, the transaction rolls back, nothing
  of that day is deleted, and the sweep says why (``ArchiveFailed``).

The columns are the signal table's as queries see it (resource columns joined), with types that every
reader takes: each time is a microsecond ``TIMESTAMP WITH TIME ZONE`` (Spark refuses nanosecond Parquet
timestamps) beside an int64 ``<name>_unix_nano`` holding the exact nanoseconds (in ``events`` too);
``exemplars`` (JSON) is plain text. Maps, lists and structs are kept as they are: Spark reads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trellis.collector.messages import first_line
from trellis.collector.schema import TABLES, Column

log = logging.getLogger("trellis.archive")

BATCH_ROWS = 122_880
"""Rows per Parquet row group: one DuckDB row group, so a day is written without being held whole."""

STALE_SECONDS = 3600
"""A temporary part older than this was left by a writer that stopped; the next part of its day removes it."""

ROW_HASH = "__trellis_row_hash"
"""A column the archive's query adds for the part's digest; it is not written."""


class ArchiveFailed(RuntimeError):
    """A day could not be archived, so none of it was deleted; the message says which and why."""

    def __init__(self, message: str, removed: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.removed = removed or {}


def micros_sql(value: str) -> str:
    """A TIMESTAMPTZ_NS truncated to microseconds, whatever the session's time zone (a cast would round,
    into the next day at 23:59:59.9999995)."""
    return f"make_timestamptz(epoch_ns({value}) // 1000)"


EVENTS = (
    'list_transform("events", lambda e: struct_pack(time := '
    + micros_sql("e.time")
    + ', time_unix_nano := epoch_ns(e.time), name := e.name, attributes := e.attributes)) AS "events"'
)
"""A span's events, each time as microseconds beside its nanoseconds."""


def _archived(column: Column) -> list[str]:
    """How one column of a signal table is written to the archive."""
    name = f'"{column.name}"'
    if column.sql == "TIMESTAMPTZ_NS":
        return [f"{micros_sql(name)} AS {name}", f'epoch_ns({name}) AS "{column.name}_unix_nano"']
    if column.sql == "JSON":
        return [f"{name}::VARCHAR AS {name}"]
    return [EVENTS] if column.name == "events" else [name]


def archive_sql(table: str, age: str) -> str:
    """The rows of ``table`` whose age (``age``, an SQL expression) is in [$lo, $hi), as the archive holds
    them, with each row's hash for the part's digest."""
    columns = ", ".join(expr for column in TABLES[table] for expr in _archived(column))
    rows = f"SELECT * FROM {table} WHERE {age} >= $lo AND {age} < $hi"
    return f"SELECT s.*, hash(s) AS {ROW_HASH} FROM (SELECT {columns} FROM ({rows})) AS s"


@dataclass(frozen=True)
class ArchivedTable:
    """What the archive holds of one signal table."""

    table: str
    days: int
    first: str | None
    last: str | None
    files: int
    bytes: int

    def as_json(self) -> dict[str, Any]:
        return {"table": self.table, "days": self.days, "first": self.first, "last": self.last,
                "files": self.files, "bytes": self.bytes}  # fmt: skip


@dataclass(frozen=True)
class Archive:
    """A local directory of hive-partitioned Parquet, one partition per signal table and day."""

    root: Path

    def partition(self, table: str, day: date) -> Path:
        return self.root / f"signal={table}" / f"date={day:%Y-%m-%d}"

    def write_day(self, cur: duckdb.DuckDBPyConnection, table: str, age: str, lo: datetime, hi: datetime) -> int:
        """Write the rows of ``table`` aged in [lo, hi), all of one UTC day, as one part; the rows written.

        Runs in the caller's transaction, so that the delete that follows removes exactly these rows."""
        partition = self.partition(table, lo.date())
        rows = cur.sql(archive_sql(table, age), params={"lo": lo, "hi": hi})
        try:
            with rows.to_arrow_reader(BATCH_ROWS) as reader:  # closed on failure too: the rollback needs that
                return write_part(reader, partition)
        except (OSError, pa.ArrowException, duckdb.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc)
            raise ArchiveFailed(
                f"could not archive {table} of {lo:%Y-%m-%d} to {partition} ({reason}), so none of that day was deleted"
            ) from exc

    def tables(self) -> list[ArchivedTable]:
        """Each signal table the archive holds: days, first and last day, parts and bytes."""
        return [_archived_table(signal) for signal in sorted(self.root.glob("signal=*")) if signal.is_dir()]


def _archived_table(signal: Path) -> ArchivedTable:
    parts = sorted(signal.glob("date=*/part-*.parquet"))
    days = sorted({part.parent.name.removeprefix("date=") for part in parts})
    size = sum(_size(part) for part in parts)
    first, last = (days[0], days[-1]) if days else (None, None)
    return ArchivedTable(signal.name.removeprefix("signal="), len(days), first, last, len(parts), size)


def _size(part: Path) -> int:
    """A part's bytes; 0 when a sweep has just replaced it."""
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def write_part(reader: pa.RecordBatchReader, partition: Path) -> int:
    """Write the reader's rows into ``partition`` as ``part-<digest>.parquet``, atomically; the rows
    written (none: no part)."""
    partition.mkdir(parents=True, exist_ok=True)
    _remove_stale(partition)
    temporary = partition / f".part-{uuid.uuid4().hex}.tmp"
    try:
        rows, digest = _write_file(reader, temporary)
        if rows:
            part = partition / f"part-{digest}.parquet"
            os.replace(temporary, part)
            drop_copies(part)
            for directory in (partition, partition.parent, partition.parent.parent):
                _fsync_directory(directory)
        return rows
    finally:
        temporary.unlink(missing_ok=True)


def _write_file(reader: pa.RecordBatchReader, path: Path) -> tuple[int, str]:
    """Write the rows, less their hash column, flushed to disk; their count and a digest of their
    contents in any order (the sum of the row hashes, modulo 2**64)."""
    schema = reader.schema.remove(reader.schema.get_field_index(ROW_HASH))
    rows = total = 0
    with open(path, "wb") as out:
        with pq.ParquetWriter(out, schema, compression="zstd") as writer:
            for batch in reader:
                total += pc.sum(batch.column(ROW_HASH)).as_py() or 0
                rows += batch.num_rows
                writer.write_batch(batch.drop_columns([ROW_HASH]), row_group_size=BATCH_ROWS)
        out.flush()
        os.fsync(out.fileno())
    digest = hashlib.blake2b(f"{rows}:{total % 2**64}".encode(), digest_size=8).hexdigest()
    return rows, digest


def _remove_stale(partition: Path) -> None:
    """Remove the temporary parts that writers stopped halfway left (not one being written now, by another
    collector archiving to the same directory)."""
    for temporary in partition.glob(".part-*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            if time.time() - temporary.stat().st_mtime > STALE_SECONDS:
                temporary.unlink()


def drop_copies(part: Path) -> None:
    """Remove the other parts of ``part``'s partition whose rows are all in ``part`` too: what a sweep wrote
    before the collector stopped, its rows still live and now archived again with rows that came since.

    A part that holds fewer rows is compared row by row (DuckDB's ``EXCEPT ALL``); this happens only when a
    day has more than one part (late rows, a stop, or other collectors archiving to the same directory)."""
    rows = pq.ParquetFile(part).metadata.num_rows
    for other in sorted(part.parent.glob("part-*.parquet")):
        if other != part and _rows_within(other, part, rows):
            other.unlink()


def _rows_within(small: Path, large: Path, large_rows: int) -> bool:
    """Whether every row of ``small`` is in ``large`` (as many times); False for a part that cannot be read
    (not one this archive wrote: it is left alone)."""
    sql = "SELECT count(*) FROM (FROM read_parquet($small) EXCEPT ALL FROM read_parquet($large))"
    try:
        if pq.ParquetFile(small).metadata.num_rows > large_rows:
            return False
        with duckdb.connect() as con:
            row = con.execute(sql, {"small": str(small), "large": str(large)}).fetchone()
    except (pa.ArrowException, duckdb.Error) as exc:
        log.warning("archive: %s is not a part of this day's rows (%s); it is left as it is", small, first_line(exc))
        return False
    return row is not None and row[0] == 0


def _fsync_directory(directory: Path) -> None:
    """Flush a directory's entries, so that a rename or a new entry in it survives a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["Archive", "ArchiveFailed", "ArchivedTable", "archive_sql", "drop_copies", "micros_sql", "write_part"]
