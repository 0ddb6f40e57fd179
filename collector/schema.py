"""The tables the collector writes, their Arrow layout, and the migrations.

Metric tables follow the OpenTelemetry Collector's ClickHouse exporter layout
in snake_case. ``docs/schema.md`` documents every column; a test keeps it true.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

SCHEMA_VERSION = 1

_ATTRS = pa.map_(pa.string(), pa.string())
_TS = pa.timestamp("ns")


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
    _col("scope_name", "VARCHAR", pa.string()),
    _col("scope_version", "VARCHAR", pa.string()),
    _col("scope_attributes", "MAP(VARCHAR, VARCHAR)", _ATTRS),
    _col("scope_schema_url", "VARCHAR", pa.string()),
]
"""Columns every signal table starts with: promoted resource attributes, then the scope."""

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
    _col("series_id", "UBIGINT", pa.uint64()),
    _col("start_time", "TIMESTAMP_NS", _TS),
    _col("time", "TIMESTAMP_NS", _TS),
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
        _col("time", "TIMESTAMP_NS", _TS),
        _col("observed_time", "TIMESTAMP_NS", _TS),
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
        _col("trace_id", "VARCHAR", pa.string()),
        _col("span_id", "VARCHAR", pa.string()),
        _col("parent_span_id", "VARCHAR", pa.string()),
        _col("trace_state", "VARCHAR", pa.string()),
        _col("flags", "UINTEGER", pa.uint32()),
        _col("name", "VARCHAR", pa.string()),
        _col("kind", "TINYINT", pa.int8()),
        _col("start_time", "TIMESTAMP_NS", _TS),
        _col("end_time", "TIMESTAMP_NS", _TS),
        _col("duration_ns", "BIGINT", pa.int64()),
        _col("status_code", "TINYINT", pa.int8()),
        _col("status_message", "VARCHAR", pa.string()),
        _col("attributes", "MAP(VARCHAR, VARCHAR)", _ATTRS),
        _col(
            "events",
            "STRUCT(time TIMESTAMP_NS, name VARCHAR, attributes MAP(VARCHAR, VARCHAR))[]",
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
            finished_at TIMESTAMP_NS,
            first_commit_at TIMESTAMP_NS,
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
            opened_at TIMESTAMP_NS,
            resolved_at TIMESTAMP_NS,
            caused_by_deployment_id VARCHAR
        )""",
}
"""Tables the collector keeps from deployment and incident events (docs/events.md)."""


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a signal table's batches."""
    return pa.schema([pa.field(c.name, c.arrow) for c in TABLES[table]])


def _create_signal_table(name: str, columns: list[Column]) -> str:
    body = ",\n    ".join(f'"{c.name}" {c.sql}' for c in columns)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n    {body}\n)"


MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            *(_create_signal_table(n, cols) for n, cols in TABLES.items()),
            *PROJECTION_DDL.values(),
        ],
    ),
]
"""Each migration brings the database to its version; they run in order, once."""


def run_migrations(con: duckdb.DuckDBPyConnection, version_table: str, migrations: list[tuple[int, list[str]]]) -> int:
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
                con.execute(statement)
            con.execute(f"INSERT INTO {version_table} VALUES (?, now())", [version])
        except Exception:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        current = version
    return current


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Create or upgrade the collector's tables; returns the schema version now in force."""
    return run_migrations(con, "trellis_schema", MIGRATIONS)
