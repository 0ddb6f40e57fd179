"""Migrations: run once each, in order, recorded in trellis_schema, all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
        assert after == {t: [_in_utc(row) for row in rows] for t, rows in before.items()}  # schema 3: times in UTC
        assert len(after["otel_logs"]) == 9
        # Three resources, each stored once although three tables and nine rows use each.
        assert con.execute("SELECT count(*), count(DISTINCT resource_id) FROM otel_resources").fetchall() == [(3, 3)]
        assert columns(con, "otel_metrics_gauge") == [c.name for c in TABLES["otel_metrics_gauge"]]


def _in_utc(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row read from a database before schema 3, whose times were UTC without saying so."""
    return tuple(v.replace(tzinfo=UTC) if isinstance(v, datetime) else v for v in row)


TIME_COLUMNS = {
    "otel_metrics_gauge_rows": ["start_time", "time"],
    "otel_logs_rows": ["time", "observed_time"],
    "otel_traces_rows": ["start_time", "end_time"],
    "deployments": ["finished_at", "first_commit_at"],
    "incidents": ["opened_at", "resolved_at"],
}


def test_schema_3_makes_every_time_an_instant_in_utc_whatever_the_session_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Times were TIMESTAMP_NS, which no filter on now() or a date could compare with; they become
    TIMESTAMPTZ_NS holding the same instants, to the nanosecond."""
    path = tmp_path / "v2.duckdb"
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
    at = 1_767_261_600_000_000_123  # 2026-01-01 10:00:00.000000123 UTC
    with duckdb.connect(str(path)) as con:
        assert migrate(con) == 2
        for table, names in TIME_COLUMNS.items():
            key = {"deployments": ["deployment_id", "status"], "incidents": ["incident_id"]}.get(table, [])
            values = [*(["d-1", "succeeded"] if table == "deployments" else ["i-1"] if key else []),
                      *(f"make_timestamp_ns({at})" for _ in names)]  # fmt: skip
            quoted = [v if v.startswith("make_") else f"'{v}'" for v in values]
            con.execute(f"INSERT INTO {table} ({', '.join(key + names)}) VALUES ({', '.join(quoted)})")
        con.execute(
            "UPDATE otel_traces_rows SET events = [{'time': make_timestamp_ns(?), 'name': 'retry', "
            "'attributes': MAP {}}]", [at],
        )  # fmt: skip
    monkeypatch.undo()

    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'America/New_York'")
        assert migrate(con) == SCHEMA_VERSION
        assert con.execute("SELECT current_setting('TimeZone')").fetchall() == [("America/New_York",)]
        types = con.execute(
            "SELECT DISTINCT data_type FROM duckdb_columns() WHERE data_type LIKE '%TIMESTAMP%' AND table_name IN ?",
            [[*TABLES, *TIME_COLUMNS]],
        ).fetchall()
        assert all("TIMESTAMPTZ_NS" in t and "TIMESTAMP_NS" not in t for (t,) in types), types
        for table, names in TIME_COLUMNS.items():
            stored = con.execute(f"SELECT {', '.join(f'epoch_ns({n})' for n in names)} FROM {table}").fetchall()
            assert stored == [tuple(at for _ in names)], table
            recent = con.execute(f"SELECT count(*) FROM {table} WHERE {names[0]} > DATE '2025-12-31'").fetchall()
            assert recent == [(1,)], table
        assert con.execute("SELECT epoch_ns(events[1].time) FROM otel_traces_rows").fetchall() == [(at,)]


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
