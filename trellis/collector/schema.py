"""The tables the collector writes, their Arrow layout, and the migrations.

Metric tables follow the OpenTelemetry Collector's ClickHouse exporter layout
in snake_case. ``docs/schema.md`` documents every column; a test keeps it true.

Queries see each signal table as ``TABLES`` lists it. It is a view: the rows
are stored in ``<table>_rows`` with a ``resource_id`` in place of the
resource's columns, and each distinct resource once in ``otel_resources``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson
import pyarrow as pa

if TYPE_CHECKING:
    import duckdb


SCHEMA_VERSION = 6

_ATTRS = pa.map_(pa.string(), pa.string())
_TS = pa.timestamp("ns", tz="UTC")
"""Every time column: an instant in nanoseconds, TIMESTAMPTZ_NS, so that it compares with now(), dates and
timestamps written in SQL."""


def use_utc(con: duckdb.DuckDBPyConnection) -> None:
    """Show and compare times in UTC on this database's connections, whatever the host's zone (before the
    configuration is locked)."""
    con.execute("SET GLOBAL TimeZone='UTC'")


def instant_sql(ns: int) -> str:
    """An instant (ns since the epoch) as a TIMESTAMPTZ_NS literal, exact and whatever the session's zone:
    what a time column compares with in generated SQL."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"TIMESTAMPTZ_NS '{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M:%S}.{rest:09d}+00'"


@dataclass(frozen=True)
class Column:
    name: str
    sql: str
    arrow: pa.DataType


def _col(name: str, sql: str, arrow: pa.DataType) -> Column:
    return Column(name, sql, arrow)


RESOURCE_COLUMNS = [
    _col("service_name", "VARCHAR", pa.string()),
    _col("service_namespace", "VARCHAR", pa.string()),
    _col("service_version", "VARCHAR", pa.string()),
    _col("deployment_environment_name", "VARCHAR", pa.string()),
    _col("k8s_namespace_name", "VARCHAR", pa.string()),
    _col("k8s_pod_name", "VARCHAR", pa.string()),
    _col("k8s_container_name", "VARCHAR", pa.string()),
    _col("host_name", "VARCHAR", pa.string()),
    _col("resource_attributes", "MAP(VARCHAR, VARCHAR)", _ATTRS),
    _col("resource_schema_url", "VARCHAR", pa.string()),
]
"""The resource's columns: promoted resource attributes, the attribute map and the schema URL."""

SCOPE_COLUMNS = [
    _col("scope_name", "VARCHAR", pa.string()),
    _col("scope_version", "VARCHAR", pa.string()),
    _col("scope_attributes", "MAP(VARCHAR, VARCHAR)", _ATTRS),
    _col("scope_schema_url", "VARCHAR", pa.string()),
]
"""The instrumentation scope's columns, which follow the resource's in every signal table."""

PROMOTED_RESOURCE_ATTRIBUTES = {
    "service.name": "service_name",
    "service.namespace": "service_namespace",
    "service.version": "service_version",
    "deployment.environment.name": "deployment_environment_name",
    "k8s.namespace.name": "k8s_namespace_name",
    "k8s.pod.name": "k8s_pod_name",
    "k8s.container.name": "k8s_container_name",
    "host.name": "host_name",
}

METRIC_COLUMNS = [
    _col("metric_name", "VARCHAR", pa.string()),
    _col("metric_description", "VARCHAR", pa.string()),
    _col("metric_unit", "VARCHAR", pa.string()),
    *RESOURCE_COLUMNS,
    *SCOPE_COLUMNS,
    _col("series_id", "UBIGINT", pa.uint64()),
    _col("start_time", "TIMESTAMPTZ_NS", _TS),
    _col("time", "TIMESTAMPTZ_NS", _TS),
    _col("attributes", "MAP(VARCHAR, VARCHAR)", _ATTRS),
    _col("flags", "UINTEGER", pa.uint32()),
    _col("exemplars", "JSON", pa.string()),
]

_TEMPORALITY = [
    _col("aggregation_temporality", "TINYINT", pa.int8()),
]

_BUCKETS = pa.list_(pa.uint64())

TABLES: dict[str, list[Column]] = {
    "otel_metrics_gauge": [
        *METRIC_COLUMNS,
        _col("value", "DOUBLE", pa.float64()),
        _col("int_value", "BIGINT", pa.int64()),
    ],
    "otel_metrics_sum": [
        *METRIC_COLUMNS,
        *_TEMPORALITY,
        _col("is_monotonic", "BOOLEAN", pa.bool_()),
        _col("value", "DOUBLE", pa.float64()),
        _col("int_value", "BIGINT", pa.int64()),
    ],
    "otel_metrics_histogram": [
        *METRIC_COLUMNS,
        *_TEMPORALITY,
        _col("count", "UBIGINT", pa.uint64()),
        _col("sum", "DOUBLE", pa.float64()),
        _col("min", "DOUBLE", pa.float64()),
        _col("max", "DOUBLE", pa.float64()),
        _col("bucket_counts", "UBIGINT[]", _BUCKETS),
        _col("explicit_bounds", "DOUBLE[]", pa.list_(pa.float64())),
    ],
    "otel_metrics_exponential_histogram": [
        *METRIC_COLUMNS,
        *_TEMPORALITY,
        _col("count", "UBIGINT", pa.uint64()),
        _col("sum", "DOUBLE", pa.float64()),
        _col("min", "DOUBLE", pa.float64()),
        _col("max", "DOUBLE", pa.float64()),
        _col("scale", "INTEGER", pa.int32()),
        _col("zero_count", "UBIGINT", pa.uint64()),
        _col("zero_threshold", "DOUBLE", pa.float64()),
        _col("positive_offset", "INTEGER", pa.int32()),
        _col("positive_bucket_counts", "UBIGINT[]", _BUCKETS),
        _col("negative_offset", "INTEGER", pa.int32()),
        _col("negative_bucket_counts", "UBIGINT[]", _BUCKETS),
    ],
    "otel_metrics_summary": [
        *METRIC_COLUMNS,
        _col("count", "UBIGINT", pa.uint64()),
        _col("sum", "DOUBLE", pa.float64()),
        _col(
            "quantile_values",
            "STRUCT(quantile DOUBLE, value DOUBLE)[]",
            pa.list_(pa.struct([("quantile", pa.float64()), ("value", pa.float64())])),
        ),
    ],
    "otel_logs": [
        *RESOURCE_COLUMNS,
        *SCOPE_COLUMNS,
        _col("time", "TIMESTAMPTZ_NS", _TS),
        _col("observed_time", "TIMESTAMPTZ_NS", _TS),
        _col("severity_number", "TINYINT", pa.int8()),
        _col("severity_text", "VARCHAR", pa.string()),
        _col("body", "VARCHAR", pa.string()),
        _col("event_name", "VARCHAR", pa.string()),
        _col("trace_id", "VARCHAR", pa.string()),
        _col("span_id", "VARCHAR", pa.string()),
        _col("flags", "UINTEGER", pa.uint32()),
        _col("attributes", "MAP(VARCHAR, VARCHAR)", _ATTRS),
        _col("dropped_attributes_count", "UINTEGER", pa.uint32()),
    ],
    "otel_traces": [
        *RESOURCE_COLUMNS,
        *SCOPE_COLUMNS,
        _col("trace_id", "VARCHAR", pa.string()),
        _col("span_id", "VARCHAR", pa.string()),
        _col("parent_span_id", "VARCHAR", pa.string()),
        _col("trace_state", "VARCHAR", pa.string()),
        _col("flags", "UINTEGER", pa.uint32()),
        _col("name", "VARCHAR", pa.string()),
        _col("kind", "TINYINT", pa.int8()),
        _col("start_time", "TIMESTAMPTZ_NS", _TS),
        _col("end_time", "TIMESTAMPTZ_NS", _TS),
        _col("duration_ns", "BIGINT", pa.int64()),
        _col("status_code", "TINYINT", pa.int8()),
        _col("status_message", "VARCHAR", pa.string()),
        _col("attributes", "MAP(VARCHAR, VARCHAR)", _ATTRS),
        _col(
            "events",
            "STRUCT(time TIMESTAMPTZ_NS, name VARCHAR, attributes MAP(VARCHAR, VARCHAR))[]",
            pa.list_(pa.struct([("time", _TS), ("name", pa.string()), ("attributes", _ATTRS)])),
        ),
        _col(
            "links",
            "STRUCT(trace_id VARCHAR, span_id VARCHAR, trace_state VARCHAR, "
            "attributes MAP(VARCHAR, VARCHAR), flags UINTEGER)[]",
            pa.list_(
                pa.struct(
                    [
                        ("trace_id", pa.string()),
                        ("span_id", pa.string()),
                        ("trace_state", pa.string()),
                        ("attributes", _ATTRS),
                        ("flags", pa.uint32()),
                    ]
                )
            ),
        ),
        _col("dropped_attributes_count", "UINTEGER", pa.uint32()),
        _col("dropped_events_count", "UINTEGER", pa.uint32()),
        _col("dropped_links_count", "UINTEGER", pa.uint32()),
    ],
}
"""Signal tables, filled from OTLP exports as Arrow batches."""

PROJECTION_DDL = {
    "deployments": """
        CREATE TABLE IF NOT EXISTS deployments (
            deployment_id VARCHAR PRIMARY KEY,
            deployment_name VARCHAR,
            status VARCHAR NOT NULL,
            environment VARCHAR,
            service_name VARCHAR,
            service_namespace VARCHAR,
            service_version VARCHAR,
            finished_at TIMESTAMPTZ_NS,
            first_commit_at TIMESTAMPTZ_NS,
            vcs_revision VARCHAR,
            vcs_repository VARCHAR,
            pipeline_name VARCHAR,
            pipeline_run_id VARCHAR,
            resources VARCHAR[]
        )""",
    "incidents": """
        CREATE TABLE IF NOT EXISTS incidents (
            incident_id VARCHAR PRIMARY KEY,
            service_name VARCHAR,
            service_namespace VARCHAR,
            environment VARCHAR,
            opened_at TIMESTAMPTZ_NS,
            resolved_at TIMESTAMPTZ_NS,
            caused_by_deployment_id VARCHAR
        )""",
}
"""Tables the collector keeps from deployment and incident events (docs/events.md)."""


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a signal table's rows as queries see them (``TABLES``)."""
    return pa.schema([pa.field(c.name, c.arrow) for c in TABLES[table]])


RESOURCES_TABLE = "otel_resources"
"""Each distinct resource once, by ``resource_id``; the signal tables' rows refer to it."""

RESOURCE_ID = _col("resource_id", "UBIGINT", pa.uint64())

RESOURCE_NAMES = [c.name for c in RESOURCE_COLUMNS]


def stored_table(table: str) -> str:
    """The table that holds a signal table's rows; the signal table itself is a view over it."""
    return f"{table}_rows"


def stored_columns(table: str) -> list[Column]:
    """A signal table's columns as stored: ``resource_id`` in place of the resource's columns."""
    columns = [c for c in TABLES[table] if c.name not in RESOURCE_NAMES]
    at = [c.name for c in TABLES[table]].index(RESOURCE_NAMES[0])
    return [*columns[:at], RESOURCE_ID, *columns[at:]]


def stored_schema(table: str) -> pa.Schema:
    """The Arrow schema of the rows the store inserts into ``stored_table(table)``."""
    return pa.schema([pa.field(c.name, c.arrow) for c in stored_columns(table)])


RESOURCES_SCHEMA = pa.schema([pa.field(c.name, c.arrow) for c in [RESOURCE_ID, *RESOURCE_COLUMNS]])


def resource_id(values: list[Any]) -> int:
    """The id of a resource: a 64-bit hash of its column values in ``RESOURCE_COLUMNS`` order,
    the attribute map as (key, value) pairs in the order received."""
    digest = hashlib.blake2b(orjson.dumps(values), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


def _create_table(name: str, columns: list[Column]) -> str:
    body = ",\n    ".join(f'"{c.name}" {c.sql}' for c in columns)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n    {body}\n)"


def _create_view(table: str) -> str:
    """The signal table as a view: its stored rows joined with their resource, in ``TABLES`` order."""
    select = ", ".join(f'{"r" if c.name in RESOURCE_NAMES else "d"}."{c.name}"' for c in TABLES[table])
    return (
        f"CREATE OR REPLACE VIEW {table} AS SELECT {select} FROM {stored_table(table)} AS d "
        f"JOIN {RESOURCES_TABLE} AS r ON d.resource_id = r.resource_id"
    )


def _store_resources_once(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 2: move each signal table's rows into its stored table, each resource into
    ``otel_resources`` once, and put a view in the table's place."""
    con.execute(_create_table(RESOURCES_TABLE, [RESOURCE_ID, *RESOURCE_COLUMNS]))
    names = ", ".join(f'"{n}"' for n in RESOURCE_NAMES)
    marks = ", ".join("?" * (len(RESOURCE_NAMES) + 1))
    known: set[int] = set()
    for table in TABLES:
        for row in con.execute(f"SELECT DISTINCT {names} FROM {table}").fetchall():
            key = resource_id(_resource_values(row))
            if key not in known:
                known.add(key)
                con.execute(f"INSERT INTO {RESOURCES_TABLE} VALUES ({marks})", [key, *row])
        con.execute(_as_first_created(_create_table(stored_table(table), stored_columns(table))))
        same = " AND ".join(f'old."{n}" IS NOT DISTINCT FROM r."{n}"' for n in RESOURCE_NAMES)
        select = ", ".join(f'{"r" if c.name == "resource_id" else "old"}."{c.name}"' for c in stored_columns(table))
        joined = f"{table} AS old JOIN {RESOURCES_TABLE} AS r ON {same}"
        con.execute(f"INSERT INTO {stored_table(table)} SELECT {select} FROM {joined}")
        con.execute(f"DROP TABLE {table}")
        con.execute(_create_view(table))


def _resource_values(row: tuple[Any, ...]) -> list[Any]:
    """A resource row read from DuckDB as the values ``resource_id`` hashes: the map as pairs."""
    values = list(row)
    at = RESOURCE_NAMES.index("resource_attributes")
    if values[at] is not None:
        values[at] = list(values[at].items())
    return values


def _as_first_created(ddl: str) -> str:
    """Schema 1's statements as they were: its time columns were TIMESTAMP_NS (schema 3 changes them)."""
    return re.sub(r"\bTIMESTAMPTZ(_NS)?\b", "TIMESTAMP_NS", ddl)


def _times_in_utc(con: duckdb.DuckDBPyConnection) -> None:
    """Schema 3: every time column becomes TIMESTAMPTZ_NS, the same instants (stored values were UTC), so
    that ``time > now() - INTERVAL 1 HOUR`` and date literals compare with them.

    Plain casts (``migrate`` runs in UTC), no time zone function: a write-ahead log that holds this
    migration is replayed when the database opens, before any extension (the time zone functions are
    one) is loaded."""
    tables = [stored_table(t) for t in TABLES] + list(PROJECTION_DDL)
    found = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE table_name IN ? "
        "AND data_type LIKE '%TIMESTAMP_NS%' ORDER BY table_name, column_index",
        [tables],
    ).fetchall()
    for table, column, data_type in found:
        new_type = data_type.replace("TIMESTAMP_NS", "TIMESTAMPTZ_NS")
        con.execute(f'ALTER TABLE {table} ALTER "{column}" TYPE {new_type}')
    for table in TABLES:  # a view lists the column types it was made with
        con.execute(_create_view(table))


LATE_HOURS_TABLE = "late_metric_hours"
LATE_HOURS_DDL = f"""
    CREATE TABLE IF NOT EXISTS {LATE_HOURS_TABLE} (
        hour TIMESTAMPTZ_NS NOT NULL,
        marked_at TIMESTAMPTZ_NS NOT NULL
    )"""
"""Schema 4: hours of metric points that arrived after the hourly rollups had covered their hour; the writer
marks them in the commit that stores the points, the rollups recompute those hours and remove the marks."""

WEBHOOK_DDL = {
    "webhook_deliveries": """
        CREATE TABLE IF NOT EXISTS webhook_deliveries (
            source VARCHAR NOT NULL,
            delivery_id VARCHAR,
            event VARCHAR,
            received_at TIMESTAMPTZ_NS NOT NULL,
            outcome VARCHAR NOT NULL,
            reason VARCHAR,
            records INTEGER NOT NULL
        )""",
    "webhook_changes": """
        CREATE TABLE IF NOT EXISTS webhook_changes (
            repository VARCHAR NOT NULL,
            revision VARCHAR NOT NULL,
            first_commit_at TIMESTAMPTZ_NS NOT NULL,
            source VARCHAR NOT NULL,
            PRIMARY KEY (repository, revision)
        )""",
}
"""Schema 5: what the webhook receivers were sent and what became of it, and the first-commit time of
the revisions pushed or merged, which a later deployment of that revision takes for its lead time
(docs/connectors.md)."""

NOTIFICATIONS_DDL = {
    "notifications": """
        CREATE TABLE IF NOT EXISTS notifications (
            id VARCHAR PRIMARY KEY,
            rule VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            channel VARCHAR NOT NULL,
            event VARCHAR NOT NULL,
            subject VARCHAR NOT NULL,
            payload JSON NOT NULL,
            created_at TIMESTAMPTZ_NS NOT NULL,
            status VARCHAR NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TIMESTAMPTZ_NS,
            sent_at TIMESTAMPTZ_NS,
            last_error VARCHAR,
            cleared_at TIMESTAMPTZ_NS
        )""",
    "notification_cursors": """
        CREATE TABLE IF NOT EXISTS notification_cursors (
            name VARCHAR PRIMARY KEY,
            position BIGINT NOT NULL,
            updated_at TIMESTAMPTZ_NS NOT NULL
        )""",
}
"""Schema 6: the notifications the rules of ``--notifications-file`` raised, one row per rule, subject and
channel, with their delivery (docs/notifications.md), and how far the notifications read the catalog's audit."""

Migration: TypeAlias = "str | Callable[[duckdb.DuckDBPyConnection], None]"
"""A statement to run, or a function that migrates with the connection it is given."""

MIGRATIONS: list[tuple[int, list[Migration]]] = [
    (
        1,
        [
            *(_as_first_created(_create_table(n, cols)) for n, cols in TABLES.items()),
            *(_as_first_created(ddl) for ddl in PROJECTION_DDL.values()),
        ],
    ),
    (2, [_store_resources_once]),
    (3, [_times_in_utc]),
    (4, [LATE_HOURS_DDL]),
    (5, list(WEBHOOK_DDL.values())),
    (6, list(NOTIFICATIONS_DDL.values())),
]
"""Each migration brings the database to its version; they run in order, once."""


def run_migrations(
    con: duckdb.DuckDBPyConnection, version_table: str, migrations: Sequence[tuple[int, Sequence[Migration]]]
) -> int:
    """Bring a set of tables to the newest version, each migration once and in one transaction.

    ``version_table`` records the versions applied; returns the version now in force.
    """
    con.execute(f"CREATE TABLE IF NOT EXISTS {version_table} (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    current = int(con.execute(f"SELECT coalesce(max(version), 0) FROM {version_table}").fetchall()[0][0])
    for version, statements in migrations:
        if version <= current:
            continue
        con.execute("BEGIN")
        try:
            for statement in statements:
                if callable(statement):
                    statement(con)
                else:
                    con.execute(statement)
            con.execute(f"INSERT INTO {version_table} VALUES (?, now())", [version])
        except Exception:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        current = version
    return current


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Create or upgrade the collector's tables; returns the schema version now in force.

    Runs in UTC, the zone of every stored time, whatever the connection's zone was (it is restored)."""
    zone = con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
    con.execute("SET TimeZone='UTC'")
    try:
        return run_migrations(con, "trellis_schema", MIGRATIONS)
    finally:
        con.execute("SET TimeZone=?", [zone])
