"""The catalog's rows: every SQL statement the catalog runs lives here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import orjson

from trellis.catalog.errors import CatalogError
from trellis.catalog.models import DefinitionSpec


@dataclass
class VersionRow:
    definition_id: str
    version: int
    content_hash: str
    spec: DefinitionSpec
    state: str
    proposed_by: str | None
    proposed_at: datetime
    activated_at: datetime | None
    deprecated_at: datetime | None
    deadline: datetime | None
    archived_at: datetime | None

    def summary(self) -> dict[str, Any]:
        return {
            "definition": self.definition_id,
            "version": self.version,
            "content_hash": self.content_hash,
            "state": self.state,
            "proposed_by": self.proposed_by,
            "proposed_at": self.proposed_at,
            "activated_at": self.activated_at,
            "deadline": self.deadline,
        }


_VERSION_COLUMNS = (
    "definition_id, version, content_hash, spec, state, proposed_by, proposed_at, activated_at, "
    "deprecated_at, deadline, archived_at"
)


@dataclass
class ChangeRow:
    """A governed change of a document other than a definition (an approval rule, a policy...)."""

    kind: str
    id: str
    version: int
    content_hash: str
    spec: dict[str, Any]
    description: str | None
    state: str
    proposed_by: str
    proposed_at: datetime
    settled_at: datetime | None = None

    @property
    def ref(self) -> str:
        """How approvals name it: KIND/ID (a definition's id never holds a slash)."""
        return f"{self.kind}/{self.id}"


_CHANGE_COLUMNS = "kind, id, version, content_hash, spec, description, state, proposed_by, proposed_at, settled_at"


def _change(row: tuple[Any, ...]) -> ChangeRow:
    values = list(row)
    values[4] = orjson.loads(values[4])
    return ChangeRow(*values)


def _version(row: tuple[Any, ...]) -> VersionRow:
    values = list(row)
    values[3] = DefinitionSpec.model_validate_json(values[3])
    return VersionRow(*values)


_KEPT_TABLES = ("catalog_objects", "catalog_definitions", "catalog_versions", "catalog_owners")
"""Written only through a ``Repository``, so a session's repository can keep what it read of them."""


class Repository:
    """Reads and writes catalog rows on one connection (the caller holds the transaction).

    Versions are immutable: no statement here changes a version's content hash, and only ``redact_spec``
    (a value that became secret) touches a spec; otherwise only states and their times change."""

    def __init__(self, con: duckdb.DuckDBPyConnection, memo: bool = False) -> None:
        self.con = con
        self._memo: dict[tuple[str, tuple[Any, ...]], list[tuple[Any, ...]]] | None = {} if memo else None

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def _kept(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """A read of the documents, definitions, versions or owners, answered from memory when the same read
        was made earlier in this session and nothing it reads was written since (``memo``: a session's
        repository, whose snapshot no other session changes)."""
        if self._memo is None:
            return self.rows(sql, params)
        key = (sql, tuple(params or ()))
        if key not in self._memo:
            self._memo[key] = self.rows(sql, params)
        return self._memo[key]

    def _write(self, sql: str, params: list[Any]) -> None:
        if self._memo and any(table in sql for table in _KEPT_TABLES):
            self._memo.clear()
        self.con.execute(sql, params)

    # objects: ResourceType, Policy, ApprovalRule, Pin
    def objects(self, kind: str) -> dict[str, dict[str, Any]]:
        rows = self._kept("SELECT id, spec FROM catalog_objects WHERE kind = ? ORDER BY id", [kind])
        return {object_id: orjson.loads(spec) for object_id, spec in rows}

    def object_meta(self, kind: str) -> dict[str, str | None]:
        rows = self._kept("SELECT id, description FROM catalog_objects WHERE kind = ? ORDER BY id", [kind])
        return dict(rows)

    def put_object(
        self, kind: str, object_id: str, spec: dict[str, Any], description: str | None, at: datetime
    ) -> None:
        self._write(
            "INSERT INTO catalog_objects VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET "
            "spec = excluded.spec, description = excluded.description, updated_at = excluded.updated_at",
            [kind, object_id, orjson.dumps(spec, default=str).decode(), description, at, at],
        )

    def delete_object(self, kind: str, object_id: str) -> None:
        self._write("DELETE FROM catalog_objects WHERE kind = ? AND id = ?", [kind, object_id])

    # definitions and versions
    def definition_ids(self) -> list[str]:
        return [r[0] for r in self._kept("SELECT id FROM catalog_definitions ORDER BY id")]

    def definition(self, definition_id: str) -> dict[str, Any] | None:
        rows = self._kept(
            "SELECT id, type, description, legacy, created_at FROM catalog_definitions WHERE id = ?", [definition_id]
        )
        if not rows:
            return None
        keys = ("id", "type", "description", "legacy", "created_at")
        return dict(zip(keys, rows[0], strict=True))

    def add_definition(
        self, definition_id: str, type_: str, description: str | None, legacy: bool, at: datetime
    ) -> None:
        self._write(
            "INSERT INTO catalog_definitions VALUES (?, ?, ?, ?, ?)", [definition_id, type_, description, legacy, at]
        )

    def update_definition(self, definition_id: str, description: str | None, legacy: bool) -> None:
        self._write(
            "UPDATE catalog_definitions SET description = ?, legacy = ? WHERE id = ?",
            [description, legacy, definition_id],
        )

    def versions(self, definition_id: str | None = None, states: tuple[str, ...] = ()) -> list[VersionRow]:
        sql = f"SELECT {_VERSION_COLUMNS} FROM catalog_versions WHERE 1=1"
        params: list[Any] = []
        if definition_id is not None:
            sql += " AND definition_id = ?"
            params.append(definition_id)
        if states:
            sql += f" AND state IN ({', '.join('?' for _ in states)})"
            params.extend(states)
        return [_version(r) for r in self._kept(sql + " ORDER BY definition_id, version", params)]

    def version(self, definition_id: str, version: int) -> VersionRow | None:
        rows = self._kept(
            f"SELECT {_VERSION_COLUMNS} FROM catalog_versions WHERE definition_id = ? AND version = ?",
            [definition_id, version],
        )
        return _version(rows[0]) if rows else None

    def add_version(self, row: VersionRow) -> None:
        self._write(
            f"INSERT INTO catalog_versions ({_VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                row.definition_id, row.version, row.content_hash, row.spec.model_dump_json(by_alias=True),
                row.state, row.proposed_by, row.proposed_at, row.activated_at, row.deprecated_at, row.deadline,
                row.archived_at,
            ],
        )  # fmt: skip

    def set_state(self, definition_id: str, version: int, state: str, **times: datetime | None) -> None:
        assignments = ", ".join(["state = ?", *(f"{name} = ?" for name in times)])
        self._write(
            f"UPDATE catalog_versions SET {assignments} WHERE definition_id = ? AND version = ?",
            [state, *times.values(), definition_id, version],
        )

    def redact_spec(self, definition_id: str, version: int, spec: DefinitionSpec) -> None:
        """The one change a version's spec may take: a value that became secret, replaced by a marker
        (``redaction``); its content hash stays the hash of what was approved."""
        self._write(
            "UPDATE catalog_versions SET spec = ? WHERE definition_id = ? AND version = ?",
            [spec.model_dump_json(by_alias=True), definition_id, version],
        )

    def redact_bindings(self, type_: str, names: list[str], marker: str) -> int:
        """Replace the clear-text values of outputs ``names`` in the bindings of type ``type_``; how many."""
        rows = self.rows("SELECT rowid, outputs FROM catalog_bindings WHERE type = ?", [type_])
        changed = 0
        for rowid, text in rows:
            outputs = orjson.loads(text)
            clear = [n for n in names if n in outputs and not str(outputs[n]).startswith("${secret:")]
            if clear:
                outputs.update(dict.fromkeys(clear, marker))
                self._write(
                    "UPDATE catalog_bindings SET outputs = ? WHERE rowid = ?", [orjson.dumps(outputs).decode(), rowid]
                )
                changed += 1
        return changed

    # owners
    def owners(self) -> dict[tuple[str, str], str]:
        return {(kind, oid): team for kind, oid, team in self._kept("SELECT kind, id, team FROM catalog_owners")}

    def set_owner(self, kind: str, object_id: str, team: str) -> None:
        self._write(
            "INSERT INTO catalog_owners VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET team = excluded.team",
            [kind, object_id, team],
        )

    # governed changes of other documents
    def changes(self, kind: str, object_id: str, states: tuple[str, ...] = ()) -> list[ChangeRow]:
        sql = f"SELECT {_CHANGE_COLUMNS} FROM catalog_changes WHERE kind = ? AND id = ?"
        params: list[Any] = [kind, object_id]
        if states:
            sql += f" AND state IN ({', '.join('?' for _ in states)})"
            params.extend(states)
        return [_change(r) for r in self.rows(sql + " ORDER BY version", params)]

    def pending_changes(self) -> list[ChangeRow]:
        rows = self.rows(f"SELECT {_CHANGE_COLUMNS} FROM catalog_changes WHERE state = 'proposed' ORDER BY kind, id")
        return [_change(r) for r in rows]

    def add_change(self, row: ChangeRow) -> None:
        self._write(
            f"INSERT INTO catalog_changes ({_CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [row.kind, row.id, row.version, row.content_hash, orjson.dumps(row.spec).decode(), row.description,
             row.state, row.proposed_by, row.proposed_at, row.settled_at],
        )  # fmt: skip

    def settle_change(self, row: ChangeRow, state: str, at: datetime) -> None:
        self._write(
            "UPDATE catalog_changes SET state = ?, settled_at = ? WHERE kind = ? AND id = ? AND version = ?",
            [state, at, row.kind, row.id, row.version],
        )

    # approvals
    def approvals(self, definition_id: str, version: int, content_hash: str) -> list[str]:
        rows = self.rows(
            "SELECT approver FROM catalog_approvals WHERE definition_id = ? AND version = ? AND content_hash = ? "
            "ORDER BY approved_at",
            [definition_id, version, content_hash],
        )
        return [r[0] for r in rows]

    def add_approval(self, definition_id: str, version: int, content_hash: str, approver: str, at: datetime) -> None:
        self._write(
            "INSERT INTO catalog_approvals VALUES (?, ?, ?, ?, ?)", [definition_id, version, content_hash, approver, at]
        )

    # bindings and misses
    def add_binding(self, values: list[Any]) -> None:
        self._write("INSERT INTO catalog_bindings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    def add_miss(self, values: list[Any]) -> None:
        self._write("INSERT INTO catalog_misses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    def latest_bindings(self) -> list[dict[str, Any]]:
        """The latest binding of every (app, env, workload, resource)."""
        cursor = self.con.execute(
            "SELECT * FROM catalog_bindings QUALIFY row_number() OVER "
            "(PARTITION BY app, env, workload, resource ORDER BY resolved_at DESC, version DESC) = 1 "
            "ORDER BY app, env, workload, resource"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def check_invariants(repo: Repository) -> None:
    """Refuse to commit a write that would break what the catalog promises: one active version per
    definition, and an audit log numbered 1..N without gaps. The caller rolls back."""
    doubled = repo.rows(
        "SELECT definition_id, list(version ORDER BY version) FROM catalog_versions WHERE state = 'active' "
        "GROUP BY 1 HAVING count(*) > 1 ORDER BY 1"
    )
    if doubled:
        definition_id, versions = doubled[0]
        raise CatalogError(
            f"{definition_id} would have {len(versions)} active versions ({versions}); nothing was changed", 409
        )
    count, top = repo.rows("SELECT count(*), coalesce(max(seq), 0) FROM catalog_audit")[0]
    if count != top:
        raise CatalogError(f"the audit log would hold {count} entries numbered up to {top}; nothing was changed", 409)
