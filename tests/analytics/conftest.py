"""A real DuckDB with the collector's and the catalog's tables, and helpers to fill it by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from trellis.analytics.sources import Sources
from trellis.catalog.tables import migrate_catalog
from trellis.collector import resources
from trellis.collector.schema import TABLES, arrow_schema, migrate


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    migrate(connection)
    migrate_catalog(connection)
    yield connection
    connection.close()


def sources(con: duckdb.DuckDBPyConnection) -> Sources:
    return Sources(con)


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows given as dicts; columns left out are NULL (or the column's default).

    Signal tables go through ``trellis.collector.resources.insert``, as the store writes them."""
    if table in TABLES:
        resources.insert(con, table, pa.Table.from_pylist(list(rows), schema=arrow_schema(table)))
        return
    for row in rows:
        names = ", ".join(f'"{k}"' for k in row)
        marks = ", ".join("?" for _ in row)
        con.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))


def deployment(
    deployment_id: str,
    finished_at: datetime,
    status: str = "succeeded",
    service: str | None = "checkout",
    namespace: str | None = "shop",
    environment: str | None = "production",
    first_commit_at: datetime | None = None,
    resources: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "deployment_id": deployment_id,
        "status": status,
        "service_name": service,
        "service_namespace": namespace,
        "environment": environment,
        "finished_at": finished_at,
        "first_commit_at": first_commit_at,
        "resources": resources,
    }


def incident(
    incident_id: str,
    opened_at: datetime,
    resolved_at: datetime | None = None,
    service: str = "checkout",
    namespace: str | None = "shop",
    environment: str | None = "production",
    caused_by: str | None = None,
) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "service_name": service,
        "service_namespace": namespace,
        "environment": environment,
        "opened_at": opened_at,
        "resolved_at": resolved_at,
        "caused_by_deployment_id": caused_by,
    }


def utc(*args: int) -> datetime:
    """A TIMESTAMPTZ value for the catalog's tables."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def binding(
    workload: str,
    resource: str,
    definition: str,
    version: int,
    at: datetime,
    app: str = "shop",
    env: str = "production",
    type_: str = "postgres",
    class_: str = "default",
    res_id: str | None = None,
    pinned: bool = False,
) -> dict[str, Any]:
    return {
        "workload": workload,
        "app": app,
        "env": env,
        "env_type": "production",
        "resource": resource,
        "res_id": res_id or f"{workload}.{resource}",
        "type": type_,
        "class": class_,
        "params": "{}",
        "definition_id": definition,
        "version": version,
        "pinned": pinned,
        "outputs": "{}",
        "resolved_at": at.replace(tzinfo=UTC) if at.tzinfo is None else at,
    }


def miss(
    workload: str, resource: str, at: datetime, type_: str = "postgres", class_: str = "default", app: str = "shop"
) -> dict[str, Any]:
    return {
        "workload": workload,
        "app": app,
        "env": "production",
        "env_type": "production",
        "resource": resource,
        "type": type_,
        "class": class_,
        "reason": f"resource {resource}: no definition of type {type_} and class {class_} matches",
        "missed_at": at.replace(tzinfo=UTC),
    }


def definition(definition_id: str, type_: str, created_at: datetime, legacy: bool = False) -> dict[str, Any]:
    return {
        "id": definition_id,
        "type": type_,
        "description": None,
        "legacy": legacy,
        "created_at": created_at.replace(tzinfo=UTC),
    }


def version(
    definition_id: str,
    number: int,
    activated_at: datetime | None,
    state: str = "active",
    classes: Sequence[str] = ("default",),
    type_: str = "postgres",
) -> dict[str, Any]:
    spec = {"type": type_, "driver": "static", "criteria": [{"class": c} for c in classes]}
    return {
        "definition_id": definition_id,
        "version": number,
        "content_hash": f"{definition_id}-{number}",
        "spec": json.dumps(spec),
        "state": state,
        "proposed_by": "alice",
        "proposed_at": (activated_at or datetime(2025, 1, 1)).replace(tzinfo=UTC),
        "activated_at": activated_at.replace(tzinfo=UTC) if activated_at else None,
    }


def pin(pin_id: str, expires: str, **spec: Any) -> dict[str, Any]:
    body = {
        "app": "shop",
        "env": "production",
        "workload": "checkout",
        "resource": "db",
        "definition": "pg",
        "version": 1,
        "reason": "driver upgrade pending",
        "owner": "team-shop",
        "expires": expires,
        **spec,
    }
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return {"kind": "Pin", "id": pin_id, "spec": json.dumps(body), "created_at": now, "updated_at": now}
