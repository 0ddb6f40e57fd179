"""Resources stored once: signal rows refer to their resource by ``resource_id``.

Every OTLP point, log record and span comes with its resource (a dozen
attributes, the same for thousands of rows). The store keeps each distinct
resource once in ``otel_resources`` and each row's ``resource_id``; the signal
tables that queries read are views that join the two (``trellis.collector.schema``).
Decoders build rows in the stored layout directly. This module converts rows
in the layout queries see (``TABLES``) to the stored one and back, for callers
that hand the store whole rows, and writes both parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from trellis.collector.schema import (
    RESOURCE_NAMES,
    RESOURCES_SCHEMA,
    RESOURCES_TABLE,
    arrow_schema,
    resource_id,
    stored_schema,
    stored_table,
)

if TYPE_CHECKING:
    import duckdb


def is_stored_layout(rows: pa.Table) -> bool:
    """Whether ``rows`` are in the stored layout (with ``resource_id``) rather than the queried one."""
    return "resource_id" in rows.column_names


def split(table: str, rows: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Rows in a signal table's queried layout as (stored rows, their distinct resources)."""
    missing = [n for n in RESOURCE_NAMES if n not in rows.column_names]
    if missing:
        raise ValueError(f"rows for {table} have neither resource_id nor the resource columns {', '.join(missing)}")
    values = rows.select(RESOURCE_NAMES).cast(pa.schema([arrow_schema(table).field(n) for n in RESOURCE_NAMES]))
    ids: list[int] = []
    resources: dict[int, list[Any]] = {}
    for row in values.to_pylist():
        resource = [row[n] for n in RESOURCE_NAMES]
        key = resource_id(resource)
        resources.setdefault(key, resource)
        ids.append(key)
    stored = {name: rows[name] for name in rows.column_names if name not in RESOURCE_NAMES}
    stored["resource_id"] = pa.array(ids, pa.uint64())
    schema = stored_schema(table)
    rows_out = pa.table([stored[f.name] for f in schema], schema=schema)
    return rows_out, resources_table(resources)


def resources_table(resources: dict[int, list[Any]]) -> pa.Table:
    """``otel_resources`` rows as Arrow, from each resource's values in ``RESOURCE_NAMES`` order by id."""
    values = list(resources.values())
    columns = [pa.array(list(resources), pa.uint64())]
    for i, name in enumerate(RESOURCE_NAMES):
        columns.append(pa.array([v[i] for v in values], RESOURCES_SCHEMA.field(name).type))
    return pa.table(columns, schema=RESOURCES_SCHEMA)


def join(table: str, rows: pa.Table, resources: pa.Table) -> pa.Table:
    """Stored rows with their resources' columns, in the signal table's queried layout."""
    position = pc.index_in(rows["resource_id"], value_set=resources["resource_id"])
    if position.null_count:
        raise ValueError(f"{position.null_count} rows of {table} refer to a resource that is not given")
    columns = {name: rows[name] for name in rows.column_names}
    for name in RESOURCE_NAMES:
        columns[name] = resources[name].take(position)
    schema = arrow_schema(table)
    return pa.table([columns[f.name] for f in schema], names=schema.names)


def insert(cur: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, resources: pa.Table | None = None) -> None:
    """Insert a signal table's rows, stored layout with their ``resources`` or queried layout, and
    whichever of their resources the database does not hold yet. The caller owns the transaction."""
    if not is_stored_layout(rows):
        rows, resources = split(table, rows)
    if resources is not None:
        insert_resources(cur, resources)
    cur.register("incoming_rows", rows)
    try:
        cur.execute(f"INSERT INTO {stored_table(table)} SELECT * FROM incoming_rows")
    finally:
        cur.unregister("incoming_rows")


def insert_resources(cur: duckdb.DuckDBPyConnection, resources: pa.Table) -> None:
    """Add the resources the database does not hold yet, each once."""
    if resources.num_rows == 0:
        return
    cur.register("incoming_resources", resources)
    try:
        cur.execute(
            f"INSERT INTO {RESOURCES_TABLE} SELECT DISTINCT ON (resource_id) * FROM incoming_resources "
            f"WHERE resource_id NOT IN (SELECT resource_id FROM {RESOURCES_TABLE})"
        )
    finally:
        cur.unregister("incoming_resources")
