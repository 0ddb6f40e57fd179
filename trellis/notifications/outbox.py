"""The ``notifications`` table: what the rules raised, per channel, and how its delivery went.

The service writes it on a cursor of its own, each change in one transaction (as the rollups do): the
collector's writer never touches these tables, so the two never contend for a row. A notice is added once
per rule, key and channel while no row for them is open (not cleared), which is how a condition that holds
notifies once and notifies again after it cleared and returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import orjson

TABLE = "notifications"
CURSORS = "notification_cursors"


@dataclass(frozen=True)
class Notice:
    """Something a rule raised: what it is about (``key``), its subject and what the event says."""

    rule: str
    event: str
    key: str
    subject: str
    data: dict[str, Any]
    link: str = ""
    recipients: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Due:
    """A notification to attempt now."""

    id: str
    rule: str
    channel: str
    event: str
    subject: str
    payload: dict[str, Any]
    attempts: int


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def add(con: duckdb.DuckDBPyConnection, notice: Notice, channels: list[str], now: datetime) -> int:
    """Record ``notice`` for each channel that has no open row for its rule and key; rows added."""
    payload = orjson.dumps(_payload(notice), default=str).decode()
    added = 0
    for channel in channels:
        if _is_open(con, notice.rule, notice.key, channel):
            continue
        con.execute(
            f"""INSERT INTO {TABLE} (id, rule, key, channel, event, subject, payload, created_at, status, attempts,
                next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)""",
            [uuid.uuid4().hex, notice.rule, notice.key, channel, notice.event, notice.subject, payload, now, now],
        )
        added += 1
    return added


def _payload(notice: Notice) -> dict[str, Any]:
    return {"data": notice.data, "link": notice.link, "recipients": list(notice.recipients)}


def _is_open(con: duckdb.DuckDBPyConnection, rule: str, key: str, channel: str) -> bool:
    found = con.execute(
        f"SELECT 1 FROM {TABLE} WHERE rule = ? AND key = ? AND channel = ? AND cleared_at IS NULL LIMIT 1",
        [rule, key, channel],
    ).fetchall()
    return bool(found)


def clear_others(con: duckdb.DuckDBPyConnection, rule: str, holding: set[str], now: datetime) -> int:
    """Mark cleared the open rows of ``rule`` whose key no longer holds; rows cleared."""
    open_keys = {
        k
        for (k,) in con.execute(
            f"SELECT DISTINCT key FROM {TABLE} WHERE rule = ? AND cleared_at IS NULL", [rule]
        ).fetchall()
    }
    gone = sorted(open_keys - holding)
    for key in gone:
        con.execute(
            f"UPDATE {TABLE} SET cleared_at = ? WHERE rule = ? AND key = ? AND cleared_at IS NULL", [now, rule, key]
        )
    return len(gone)


def due(con: duckdb.DuckDBPyConnection, now: datetime, limit: int = 100) -> list[Due]:
    """The pending notifications whose next attempt is due, oldest first."""
    rows = con.execute(
        f"""SELECT id, rule, channel, event, subject, payload, attempts FROM {TABLE}
            WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY created_at LIMIT ?""",
        [now, limit],
    ).fetchall()
    return [Due(r[0], r[1], r[2], r[3], r[4], orjson.loads(r[5]), r[6]) for r in rows]


def record_attempt(
    con: duckdb.DuckDBPyConnection, item: Due, error: str | None, now: datetime, retry_in: timedelta | None
) -> None:
    """Record one attempt: sent, pending again after ``retry_in``, or failed when there is no retry."""
    attempts = item.attempts + 1
    next_at: datetime | None
    sent_at: datetime | None
    if error is None:
        status, next_at, sent_at = "sent", None, now
    else:
        status, next_at, sent_at = ("pending", now + retry_in, None) if retry_in is not None else ("failed", None, None)
    con.execute(
        f"UPDATE {TABLE} SET status = ?, attempts = ?, next_attempt_at = ?, sent_at = ?, last_error = ? WHERE id = ?",
        [status, attempts, next_at, sent_at, error, item.id],
    )


def read_position(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    found = con.execute(f"SELECT position FROM {CURSORS} WHERE name = ?", [name]).fetchall()
    return int(found[0][0]) if found else None


def write_position(con: duckdb.DuckDBPyConnection, name: str, position: int, now: datetime) -> None:
    con.execute(f"INSERT OR REPLACE INTO {CURSORS} VALUES (?, ?, ?)", [name, position, now])


def recent(con: duckdb.DuckDBPyConnection, limit: int) -> list[dict[str, Any]]:
    """The latest notifications, newest first, as the API lists them (without their payload)."""
    columns = (
        "rule, key, channel, event, subject, status, attempts, created_at, next_attempt_at, sent_at, last_error, "
        "cleared_at"
    )
    cursor = con.execute(f"SELECT {columns} FROM {TABLE} ORDER BY created_at DESC, channel LIMIT ?", [limit])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


__all__ = [
    "Due",
    "Notice",
    "add",
    "clear_others",
    "due",
    "read_position",
    "recent",
    "record_attempt",
    "transaction",
    "write_position",
]
