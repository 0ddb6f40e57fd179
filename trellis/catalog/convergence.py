"""Convergence: which consumers of a definition run its active version, and who lags behind, for how long.

A consumer's version is the one its latest deployment used (the deployments
table's ``resources`` column, ``resource_name=definition_id@version``) or, when
it has not deployed since, its latest binding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trellis.catalog.service import Catalog

_DEPLOYED_SQL = """
    WITH latest AS (
        SELECT service_namespace AS app, environment AS env, service_name AS workload, finished_at, resources
        FROM deployments WHERE status = 'succeeded' AND resources IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY service_namespace, environment, service_name
                                   ORDER BY finished_at DESC) = 1
    ), entries AS (
        SELECT app, env, workload, finished_at, unnest(resources) AS entry FROM latest
    )
    SELECT app, env, workload, split_part(entry, '=', 1) AS resource,
           CAST(split_part(split_part(entry, '=', 2), '@', 2) AS INTEGER) AS version, finished_at
    FROM entries WHERE split_part(split_part(entry, '=', 2), '@', 1) = ?
"""


def _has_deployments(catalog: Catalog) -> bool:
    rows = catalog.repo.rows("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'deployments'")
    return bool(rows[0][0])


def consumers(catalog: Catalog, definition_id: str) -> list[dict[str, Any]]:
    """Every consumer of a definition with the version it runs and since when."""
    found: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for b in catalog.repo.latest_bindings():
        if b["definition_id"] == definition_id:
            key = (b["app"], b["env"], b["workload"], b["resource"])
            found[key] = {"version": b["version"], "since": b["resolved_at"], "source": "binding"}
    if _has_deployments(catalog):
        for app, env, workload, resource, version, at in catalog.repo.rows(_DEPLOYED_SQL, [definition_id]):
            key = (app, env, workload, resource)
            since = found[key]["since"] if key in found else None
            if since is None or at >= since:  # both instants (TIMESTAMPTZ), whatever the session's zone
                found[key] = {"version": version, "since": at, "source": "deployment"}
    keys = ("app", "env", "workload", "resource")
    return [{**dict(zip(keys, key, strict=True)), **value} for key, value in sorted(found.items())]


def convergence(catalog: Catalog, definition_id: str) -> dict[str, Any]:
    """The share of consumers on the active version, and the laggards with how long they have lagged."""
    active = catalog.active(definition_id)
    rows = consumers(catalog, definition_id)
    now = catalog.now()
    for row in rows:
        row["on_active"] = active is not None and row["version"] == active.version
        lag_from = active.activated_at if active is not None and not row["on_active"] else None
        row["behind_days"] = (now - lag_from).total_seconds() / 86_400 if lag_from else 0.0
    on_active = sum(1 for r in rows if r["on_active"])
    return {
        "definition": definition_id,
        "active_version": active.version if active else None,
        "consumers": len(rows),
        "on_active": on_active,
        "share_on_active": on_active / len(rows) if rows else None,
        "rows": rows,
    }
