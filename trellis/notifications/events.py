"""The catalog's events, found by reading what it stored since the last turn.

The catalog writes every change to its audit log (``catalog_audit``, in the transaction of the change):
a proposal of a definition's version or of a governed change of another document (``propose``), an
activation (``activate``), a consumer past its deadline (``deadline-passed``).
Each turn reads the entries after the last ``seq`` read (``notification_cursors``), so a restart neither
repeats nor misses one. A proposal is an ``approval.requested`` when its version still waits for
approvals; the approvers are those the catalog counts as eligible. ``pin.expiring`` is read from the pins
themselves, each rule with its own ``days_ahead``. ``gate.denied`` is not stored by the catalog: the
catalog announces it, and ``GateDenials`` keeps the announcements for the next turn.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from trellis.catalog import pending_changes
from trellis.notifications.outbox import Notice

if TYPE_CHECKING:
    from trellis.catalog import Catalog

AUDIT = "catalog_audit"
ACTIONS = {
    "propose": "approval.requested",
    "activate": "version.activated",
    "deadline-passed": "consumer.deadline_passed",
}
"""The audit's actions that are events, and the event each is."""
Described = tuple[str, dict[str, Any], str, tuple[str, ...]]
"""An audit entry as an event: its name, what it says, its key, and the identities it is for."""


def audit_end(con: duckdb.DuckDBPyConnection) -> int:
    """The last ``seq`` of the audit (0 when empty): where a new cursor starts."""
    return int(con.execute(f"SELECT coalesce(max(seq), 0) FROM {AUDIT}").fetchall()[0][0])


def read_audit(con: duckdb.DuckDBPyConnection, after: int) -> list[tuple[int, datetime, str, str, str]]:
    """The audit's entries that are events, after ``seq`` ``after``: (seq, at, actor, action, object)."""
    actions = ", ".join(f"'{a}'" for a in ACTIONS)
    sql = f'SELECT seq, "at", actor, action, object FROM {AUDIT} WHERE seq > ? AND action IN ({actions}) ORDER BY seq'
    return [tuple(row) for row in con.execute(sql, [after]).fetchall()]


def audit_notice(catalog: Catalog, entry: tuple[int, datetime, str, str, str]) -> Described | None:
    """The event an audit entry is: (event, what it says, key, who it is for), or None when it is not one now."""
    _, at, actor, action, obj = entry
    ref, _, consumer = obj.partition(" ")
    kind, _, versioned = ref.partition("/")
    definition, _, version = versioned.partition("@")
    if not version.isdigit():
        return None
    if kind != "ResourceDefinition":
        governed = {"definition": f"{kind}/{definition}", "version": int(version), "by": actor, "at": at.isoformat()}
        return _change_requested(catalog, governed) if action == "propose" else None
    data: dict[str, Any] = {"definition": definition, "version": int(version), "by": actor, "at": at.isoformat()}
    if action == "deadline-passed":
        return "consumer.deadline_passed", {**data, **_consumer(consumer)}, obj, ()
    if action == "activate":
        return "version.activated", data, obj, ()
    return _approval_requested(catalog, definition, int(version), data)


def _consumer(text: str) -> dict[str, str]:
    app, env, rest = [*text.split("/", 2), "", ""][:3]
    workload, _, resource = rest.partition(".")
    return {"app": app, "environment": env, "workload": workload, "resource": resource}


def _approval_requested(catalog: Catalog, definition: str, version: int, data: dict[str, Any]) -> Described | None:
    with catalog.reading():
        rows = [r for r in catalog.repo.versions(definition, ("proposed",)) if r.version == version]
        if not rows or not catalog.missing_approvals(rows[0]):
            return None
        missing, approvers = catalog.missing_approvals(rows[0]), catalog.eligible(rows[0])
    key = f"ResourceDefinition/{definition}@{version}"
    return "approval.requested", {**data, "missing": missing, "approvers": approvers}, key, tuple(approvers)


def _change_requested(catalog: Catalog, data: dict[str, Any]) -> Described | None:
    """A governed change of another document (an approval rule, a policy...) that waits for approvals."""
    with catalog.reading():
        waiting = [
            c
            for c in pending_changes(catalog)
            if (c["definition"], c["version"]) == (data["definition"], data["version"])
        ]
    if not waiting or not waiting[0]["missing"]:
        return None
    found = {**data, "missing": waiting[0]["missing"], "approvers": waiting[0]["approvers"]}
    return "approval.requested", found, f"{data['definition']}@{data['version']}", tuple(waiting[0]["approvers"])


def team_of(catalog: Catalog, definition: str) -> str | None:
    """The team that owns a definition, if one does."""
    with catalog.reading():
        return catalog.repo.owners().get(("ResourceDefinition", definition))


def expiring_pins(catalog: Catalog, now: datetime, ahead: timedelta) -> list[tuple[str, dict[str, Any]]]:
    """The pins that expire within ``ahead`` of ``now``: (key, what the pin says), the key naming the expiry."""
    with catalog.reading():
        pins = catalog.pins()
    return [
        (f"Pin/{pin_id}@{pin.expires.isoformat()}", {"pin": pin_id, **pin.model_dump(mode="json")})
        for pin_id, pin in sorted(pins.items())
        if now < pin.expires <= now + ahead
    ]


class GateDenials:
    """Keeps the catalog's ``gate.denied`` announcements until the next turn takes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: list[tuple[datetime, dict[str, Any]]] = []

    def hold(self, at: datetime, payload: dict[str, Any]) -> None:
        with self._lock:
            self._held.append((at, payload))

    def take(self) -> list[tuple[datetime, dict[str, Any]]]:
        with self._lock:
            taken, self._held = self._held, []
        return taken


def denial_notice(rule: str, at: datetime, payload: dict[str, Any]) -> Notice:
    where = f"{payload.get('app')}/{payload.get('env')}/{payload.get('workload')}"
    data = {**payload, "environment": payload.get("env"), "at": at.isoformat()}
    subject = f"Deployment of {where} denied by the gate"
    return Notice(rule, "gate.denied", f"{where}@{at.isoformat()}", subject, data, "catalog")


__all__ = [
    "ACTIONS",
    "GateDenials",
    "audit_end",
    "audit_notice",
    "denial_notice",
    "expiring_pins",
    "read_audit",
    "team_of",
]
