"""The catalog's tables in the collector's database, and their migrations.

The catalog keeps its own schema version (``catalog_schema``) so that it can
change without the collector's tables moving.
"""

from __future__ import annotations

import duckdb

from trellis.collector import run_migrations

CATALOG_SCHEMA_VERSION = 4

_V1 = [
    """CREATE TABLE IF NOT EXISTS catalog_objects (
        kind VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        spec JSON NOT NULL,
        description VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (kind, id)
    )""",
    """CREATE TABLE IF NOT EXISTS catalog_definitions (
        id VARCHAR PRIMARY KEY,
        type VARCHAR NOT NULL,
        description VARCHAR,
        legacy BOOLEAN NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS catalog_versions (
        definition_id VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        content_hash VARCHAR NOT NULL,
        spec JSON NOT NULL,
        state VARCHAR NOT NULL,
        proposed_by VARCHAR,
        proposed_at TIMESTAMPTZ NOT NULL,
        activated_at TIMESTAMPTZ,
        deprecated_at TIMESTAMPTZ,
        deadline TIMESTAMPTZ,
        archived_at TIMESTAMPTZ,
        PRIMARY KEY (definition_id, version)
    )""",
    """CREATE TABLE IF NOT EXISTS catalog_approvals (
        definition_id VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        content_hash VARCHAR NOT NULL,
        approver VARCHAR NOT NULL,
        approved_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (definition_id, version, approver)
    )""",
    """CREATE TABLE IF NOT EXISTS catalog_bindings (
        workload VARCHAR NOT NULL,
        app VARCHAR NOT NULL,
        env VARCHAR NOT NULL,
        env_type VARCHAR,
        resource VARCHAR NOT NULL,
        res_id VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        class VARCHAR NOT NULL,
        params JSON NOT NULL,
        definition_id VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        pinned BOOLEAN NOT NULL,
        outputs JSON NOT NULL,
        resolved_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS catalog_misses (
        workload VARCHAR NOT NULL,
        app VARCHAR NOT NULL,
        env VARCHAR NOT NULL,
        env_type VARCHAR,
        resource VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        class VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        missed_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS catalog_audit (
        seq BIGINT PRIMARY KEY,
        "at" TIMESTAMPTZ NOT NULL,
        actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        object VARCHAR NOT NULL,
        diff JSON NOT NULL,
        prev_hash VARCHAR NOT NULL,
        hash VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS catalog_webhook_deliveries (
        id VARCHAR PRIMARY KEY,
        url VARCHAR NOT NULL,
        event VARCHAR NOT NULL,
        payload JSON NOT NULL,
        attempts INTEGER NOT NULL,
        status VARCHAR NOT NULL,
        last_error VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        delivered_at TIMESTAMPTZ
    )""",
]

_V2 = [
    # Webhook URLs often carry tokens: deliveries name their hook, and the URL stays in the webhooks file.
    "ALTER TABLE catalog_webhook_deliveries ADD COLUMN hook VARCHAR",
    "UPDATE catalog_webhook_deliveries SET hook = 'webhook-' || left(sha256(url), 12)",
    "ALTER TABLE catalog_webhook_deliveries DROP COLUMN url",
]

_V3 = [
    # Governed changes of documents other than definitions (approval rules, policies...), awaiting approval;
    # their approvals are in catalog_approvals under definition_id KIND/ID.
    """CREATE TABLE IF NOT EXISTS catalog_changes (
        kind VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        content_hash VARCHAR NOT NULL,
        spec JSON NOT NULL,
        description VARCHAR,
        state VARCHAR NOT NULL,
        proposed_by VARCHAR NOT NULL,
        proposed_at TIMESTAMPTZ NOT NULL,
        settled_at TIMESTAMPTZ,
        PRIMARY KEY (kind, id, version)
    )""",
]

_V4 = [
    # The team that owns a document (its metadata.team): team admins change only what their team owns.
    """CREATE TABLE IF NOT EXISTS catalog_owners (
        kind VARCHAR NOT NULL,
        id VARCHAR NOT NULL,
        team VARCHAR NOT NULL,
        PRIMARY KEY (kind, id)
    )""",
]

MIGRATIONS: list[tuple[int, list[str]]] = [(1, _V1), (2, _V2), (3, _V3), (4, _V4)]


def migrate_catalog(con: duckdb.DuckDBPyConnection) -> int:
    """Create or upgrade the catalog's tables; returns the catalog schema version."""
    return run_migrations(con, "catalog_schema", MIGRATIONS)
