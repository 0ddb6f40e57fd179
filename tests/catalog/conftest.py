"""Cheap factories for catalog tests: an in-memory catalog on real DuckDB, documents, workloads and a clock.

The plain functions (``definition``, ``score``, ``new_catalog``, ``apply_docs``...) are importable for
hypothesis tests, which cannot use function-scoped fixtures; the fixtures hand out the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from trellis.catalog.documents import read_text, to_yaml
from trellis.catalog.score import Workload, parse_workload
from trellis.catalog.service import Catalog, Change

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
"""Every test clock starts here."""

GROUPS = {"platform-admins": {"alice", "bob", "carol"}, "dbas": {"dave"}}
"""Approval groups of the in-memory catalogs: alice, bob and carol are platform admins."""

SECRET = "${secret:vault/db#password}"

OUTPUTS: dict[str, dict[str, str]] = {
    "postgres": {"host": "db.internal", "port": "5432", "name": "app", "username": "app", "password": SECRET},
    "mysql": {"host": "my.internal", "port": "3306", "name": "app", "username": "app", "password": SECRET},
    "redis": {"host": "cache.internal", "port": "6379", "password": "${secret:vault/redis#password}"},
    "dns": {"host": "app.example.com"},
}
"""Outputs that satisfy each built-in type used in tests."""

CATALOG_TABLES = (
    "catalog_objects",
    "catalog_definitions",
    "catalog_versions",
    "catalog_approvals",
    "catalog_bindings",
    "catalog_misses",
    "catalog_audit",
    "catalog_webhook_deliveries",
    "catalog_changes",
)


class Clock:
    """A clock the test moves: pass it as ``now=``."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def new_catalog(
    clock: Clock | None = None,
    groups: dict[str, set[str]] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Catalog:
    """A catalog on an in-memory DuckDB (or ``con``) with the test clock and the GROUPS."""
    return Catalog(con or duckdb.connect(), groups=GROUPS if groups is None else groups, now=clock or Clock())


def definition(
    definition_id: str,
    *,
    type_: str = "postgres",
    criteria: list[dict[str, Any]] | None = None,
    driver: str = "static",
    outputs: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    description: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A ResourceDefinition document; by default a static definition matching every context of class default."""
    body: dict[str, Any] = {
        "type": type_,
        "driver": driver,
        "outputs": dict(OUTPUTS.get(type_, {}) if outputs is None else outputs),
        "criteria": [{}] if criteria is None else criteria,
        **spec,
    }
    if params is not None:
        body["params"] = params
    metadata: dict[str, Any] = {"id": definition_id}
    if description is not None:
        metadata["description"] = description
    return {"apiVersion": "trellis/v1", "kind": "ResourceDefinition", "metadata": metadata, "spec": body}


def document(kind: str, object_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Any other catalog document (ResourceType, Policy, ApprovalRule, Pin)."""
    return {"apiVersion": "trellis/v1", "kind": kind, "metadata": {"id": object_id}, "spec": spec}


ENVIRONMENTS = {"prod": "production", "prod-eu": "production", "staging": "staging", "stg": "staging",
                "dev": "development", "e": "t"}  # fmt: skip
"""The environments tests use, with their types."""


def environments(**types: str) -> list[dict[str, Any]]:
    """Environment documents: ENVIRONMENTS, or the ``id=type`` given."""
    return [document("Environment", env, {"type": env_type}) for env, env_type in (types or ENVIRONMENTS).items()]


def production_approval_rule(approvals: int = 2, group: str = "platform-admins") -> dict[str, Any]:
    """'Any definition whose criteria can match env_type production needs N approvals from GROUP'."""
    return document(
        "ApprovalRule",
        "production-changes",
        {"match": {"env_type": "production"}, "approvals": approvals, "group": group},
    )


def pin(
    pin_id: str, definition_id: str, version: int, expires: datetime, *, app: str = "shop", env: str = "prod",
    workload: str = "api", resource: str = "db", reason: str = "rollout freeze", owner: str = "team-shop",
) -> dict[str, Any]:  # fmt: skip
    spec = {
        "app": app, "env": env, "workload": workload, "resource": resource, "definition": definition_id,
        "version": version, "reason": reason, "owner": owner, "expires": expires.isoformat(),
    }  # fmt: skip
    return document("Pin", pin_id, spec)


def score(name: str = "api", resources: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Score file as parsed YAML; one private postgres ``db`` unless told otherwise."""
    return {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": name},
        "containers": {"main": {"image": "example/app:1"}},
        "resources": {"db": {"type": "postgres"}} if resources is None else resources,
    }


def workload(name: str = "api", resources: dict[str, dict[str, Any]] | None = None) -> Workload:
    return parse_workload(score(name, resources), f"{name}.score.yaml")


def apply_docs(
    catalog: Catalog,
    *documents: dict[str, Any],
    actor: str = "alice",
    dry_run: bool = False,
    file: str = "catalog.yaml",
) -> list[Change]:
    """Apply documents the way a file would be applied: as YAML text, through the document reader."""
    return catalog.apply(read_text(to_yaml(list(documents)), file), actor, dry_run)


def write_yaml(path: Path, *documents: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(list(documents), sort_keys=False))
    return path


def table_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every catalog table, for 'nothing changed' assertions."""
    return {table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in CATALOG_TABLES}


def audit_entries(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cursor = con.execute('SELECT seq, "at", actor, action, object, diff FROM catalog_audit ORDER BY seq')
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.fixture
def catalog(con: duckdb.DuckDBPyConnection, clock: Clock) -> Catalog:
    """An empty catalog on an in-memory database, on the test clock, with the GROUPS."""
    return new_catalog(clock, con=con)


@pytest.fixture
def make_catalog(clock: Clock) -> Callable[..., Catalog]:
    """Factory for more catalogs on the same clock (each on its own in-memory database unless given ``con``)."""

    def make(groups: dict[str, set[str]] | None = None, con: duckdb.DuckDBPyConnection | None = None) -> Catalog:
        return new_catalog(clock, groups, con)

    return make


@pytest.fixture
def make_definition() -> Callable[..., dict[str, Any]]:
    return definition


@pytest.fixture
def make_workload() -> Callable[..., Workload]:
    return workload
