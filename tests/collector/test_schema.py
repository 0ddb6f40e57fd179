"""Migrations: run once each, in order, recorded in trellis_schema, all or nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from trellis.collector import schema
from trellis.collector.schema import SCHEMA_VERSION, TABLES, migrate
from trellis.collector.store import Store
from trellis.testing import gauge_batch

COLLECTOR_TABLES = {*TABLES, "deployments", "incidents", "trellis_schema"}


def versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [v for (v,) in con.execute("SELECT version FROM trellis_schema ORDER BY version").fetchall()]


def tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table])
    return [name for (name,) in rows.fetchall()]


def test_the_latest_migration_is_the_schema_version() -> None:
    numbers = [version for version, _ in schema.MIGRATIONS]
    assert numbers == sorted(set(numbers))
    assert numbers[-1] == SCHEMA_VERSION


def test_migrate_creates_every_table_and_records_the_version(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "fresh.duckdb")) as con:
        assert migrate(con) == SCHEMA_VERSION

        assert tables(con) >= COLLECTOR_TABLES
        assert versions(con) == [v for v, _ in schema.MIGRATIONS]
        applied = con.execute("SELECT applied_at FROM trellis_schema").fetchall()
        assert all(at is not None for (at,) in applied)
        for table, cols in TABLES.items():
            assert columns(con, table) == [c.name for c in cols]


def test_migrate_is_idempotent_and_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "again.duckdb"
    store = Store(path)
    store.write(gauge_batch(1, 10), timeout=30)
    store.close()

    with duckdb.connect(str(path)) as con:
        recorded = con.execute("SELECT * FROM trellis_schema").fetchall()
        assert migrate(con) == SCHEMA_VERSION
        assert migrate(con) == SCHEMA_VERSION
        assert con.execute("SELECT * FROM trellis_schema").fetchall() == recorded
        assert con.execute("SELECT count(*) FROM otel_metrics_gauge").fetchone() == (10,)
    # And the collector's store opens the migrated file as it is.
    reopened = Store(path)
    try:
        assert reopened.cursor().execute("SELECT count(*) FROM otel_metrics_gauge").fetchone() == (10,)
    finally:
        reopened.close()


def test_schema_2_moves_rows_of_a_version_1_database_and_stores_each_resource_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v1.duckdb"
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    with duckdb.connect(str(path)) as con:
        assert migrate(con) == 1
        for i, (service, attributes) in enumerate(
            [("checkout", "MAP {'service.name': 'checkout'}"), ("cart", "MAP {'service.name': 'cart'}"), (None, "NULL")]
        ):
            for table in ("otel_metrics_gauge", "otel_metrics_sum", "otel_logs"):
                con.execute(
                    f"INSERT INTO {table} (service_name, resource_attributes, scope_name, time, attributes) "
                    f"SELECT ?, {attributes}, 'scope', make_timestamp_ns(range * 1000 + ?), "
                    "MAP {'i': range::VARCHAR} FROM range(3)",
                    [service, i],
                )
        before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    monkeypatch.undo()

    with duckdb.connect(str(path)) as con:
        assert migrate(con) == SCHEMA_VERSION
        after = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
        assert after == before
        assert len(after["otel_logs"]) == 9
        # Three resources, each stored once although three tables and nine rows use each.
        assert con.execute("SELECT count(*), count(DISTINCT resource_id) FROM otel_resources").fetchall() == [(3, 3)]
        assert columns(con, "otel_metrics_gauge") == [c.name for c in TABLES["otel_metrics_gauge"]]


def test_a_later_migration_upgrades_an_existing_database_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "upgrade.duckdb"
    with duckdb.connect(str(path)) as con:
        migrate(con)
        con.execute("INSERT INTO deployments (deployment_id, status) VALUES ('d-1', 'succeeded')")

    upgrade = (
        SCHEMA_VERSION + 1,
        [
            "ALTER TABLE deployments ADD COLUMN change_ticket VARCHAR",
            "UPDATE deployments SET change_ticket = 'T-' || deployment_id",
        ],
    )
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, upgrade])
    with duckdb.connect(str(path)) as con:
        assert migrate(con) == SCHEMA_VERSION + 1
        assert versions(con)[-2:] == [SCHEMA_VERSION, SCHEMA_VERSION + 1]
        # A second run would fail on ADD COLUMN if the migration ran again.
        assert migrate(con) == SCHEMA_VERSION + 1
        assert con.execute("SELECT deployment_id, change_ticket FROM deployments").fetchall() == [("d-1", "T-d-1")]
        assert versions(con).count(SCHEMA_VERSION + 1) == 1

    # A database created from scratch gets every migration, in order.
    with duckdb.connect(str(tmp_path / "fresh.duckdb")) as con:
        assert migrate(con) == SCHEMA_VERSION + 1
        assert "change_ticket" in columns(con, "deployments")
        assert versions(con) == [v for v, _ in schema.MIGRATIONS]


def test_a_failing_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "broken.duckdb"
    with duckdb.connect(str(path)) as con:
        migrate(con)
    broken = (
        SCHEMA_VERSION + 1,
        ["ALTER TABLE deployments ADD COLUMN change_ticket VARCHAR", "ALTER TABLE no_such_table ADD COLUMN x INTEGER"],
    )
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])

    with duckdb.connect(str(path)) as con, pytest.raises(duckdb.CatalogException):
        migrate(con)

    with duckdb.connect(str(path), read_only=True) as con:
        assert versions(con)[-1] == SCHEMA_VERSION
        assert "change_ticket" not in columns(con, "deployments")
