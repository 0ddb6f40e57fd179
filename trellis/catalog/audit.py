"""The audit log: every catalog change, chained by hashes so that edits and deletions show.

Each entry's hash covers its own fields and the previous entry's hash;
``verify`` recomputes the chain and names the first entry that does not fit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson

GENESIS = "0" * 64


def canonical(value: Any) -> bytes:
    """Stable JSON bytes: sorted keys, no spaces, datetimes as ISO text."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)


def entry_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, obj: str, diff: Any) -> str:
    body = canonical([prev_hash, seq, at.astimezone(UTC).isoformat(), actor, action, obj, diff])
    return hashlib.sha256(body).hexdigest()


def append(
    con: duckdb.DuckDBPyConnection, at: datetime, actor: str, action: str, obj: str, diff: dict[str, Any]
) -> int:
    """Append one entry inside the caller's transaction; returns its sequence number."""
    last = con.execute("SELECT seq, hash FROM catalog_audit ORDER BY seq DESC LIMIT 1").fetchall()
    seq, prev = (last[0][0] + 1, last[0][1]) if last else (1, GENESIS)
    digest = entry_hash(prev, seq, at, actor, action, obj, diff)
    con.execute(
        "INSERT INTO catalog_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, at, actor, action, obj, canonical(diff).decode(), prev, digest],
    )
    return int(seq)


@dataclass
class Verification:
    ok: bool
    entries: int
    problem: str | None = None
    head: str = GENESIS
    """Hash of the newest entry: kept elsewhere, it shows when the newest entries are deleted."""
    state_problems: list[str] = field(default_factory=list)
    """Where the catalog's tables differ from what the log says (``trellis.catalog.integrity``)."""


def verify(con: duckdb.DuckDBPyConnection) -> Verification:
    """Recompute the chain; the first broken link is the problem."""
    rows = con.execute(
        'SELECT seq, "at", actor, action, object, diff, prev_hash, hash FROM catalog_audit ORDER BY seq'
    ).fetchall()
    prev = GENESIS
    for expected_seq, (seq, at, actor, action, obj, diff, prev_hash, digest) in enumerate(rows, start=1):
        if seq != expected_seq:
            return Verification(False, len(rows), f"entry {expected_seq} is missing (next is {seq})")
        if prev_hash != prev:
            return Verification(False, len(rows), f"entry {seq} does not follow entry {seq - 1}")
        if entry_hash(prev, seq, at, actor, action, obj, orjson.loads(diff)) != digest:
            return Verification(False, len(rows), f"entry {seq} ({action} {obj}) was changed after it was written")
        prev = digest
    return Verification(True, len(rows), head=prev)


def diff(before: Any, after: Any) -> dict[str, Any]:
    """The change itself: fields whose values differ, with before and after."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return {"before": before, "after": after}
    changed = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changed[key] = {"before": before.get(key), "after": after.get(key)}
    return changed


def field_diff(before: Any, after: Any, prefix: str = "") -> list[dict[str, Any]]:
    """The change field by field: a dotted path per value that differs (``params.size``), with before and after."""
    if isinstance(before, dict) and isinstance(after, dict):
        fields = []
        for key in sorted(set(before) | set(after)):
            fields += field_diff(before.get(key), after.get(key), f"{prefix}{key}.")
        return fields
    if before == after:
        return []
    return [{"field": prefix.rstrip(".") or "document", "before": before, "after": after}]


def redact(con: duckdb.DuckDBPyConnection, values: set[str], marker: str) -> tuple[list[int], str]:
    """Replace every string equal to one of ``values`` in the entries' diffs by ``marker`` and hash the chain
    again from the first entry that changed; returns those entries and the head before the rewrite."""
    rows = con.execute('SELECT seq, "at", actor, action, object, diff, hash FROM catalog_audit ORDER BY seq').fetchall()
    previous_head = rows[-1][6] if rows else GENESIS
    changed: list[int] = []
    prev = GENESIS
    for seq, at, actor, action, obj, text, digest in rows:
        diff = orjson.loads(text)
        scrubbed = _scrub(diff, values, marker)
        if scrubbed != diff:
            changed.append(seq)
        if changed:
            digest = entry_hash(prev, seq, at, actor, action, obj, scrubbed)
            con.execute(
                "UPDATE catalog_audit SET diff = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                [canonical(scrubbed).decode(), prev, digest, seq],
            )
        prev = digest
    return changed, previous_head


def _scrub(value: Any, values: set[str], marker: str) -> Any:
    if isinstance(value, str):
        return marker if value in values else value
    if isinstance(value, dict):
        return {key: _scrub(item, values, marker) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, values, marker) for item in value]
    return value
