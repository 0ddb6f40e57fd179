"""Store-level test doubles: batches as a decoder hands them to the store, and counting what landed."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from trellis.collector.batch import ExportBatch
from trellis.collector.schema import arrow_schema
from trellis.testing.otlp import BASE_NS, KEY_STRIDE


def gauge_batch(key: int, points: int, metric: str = "store.test") -> ExportBatch:
    """An ExportBatch of ``points`` gauge rows built directly as Arrow, as a decoder hands it over."""
    schema = arrow_schema("otel_metrics_gauge")
    columns = {f.name: pa.nulls(points, f.type) for f in schema}
    columns["metric_name"] = pa.array([metric] * points, pa.string())
    columns["time"] = pa.array([BASE_NS + i for i in range(points)], pa.timestamp("ns"))
    columns["int_value"] = pa.array([key * KEY_STRIDE + i for i in range(points)], pa.int64())
    table = pa.table([columns[f.name] for f in schema], schema=schema)
    return ExportBatch("metrics", {"otel_metrics_gauge": table}, accepted=points)


def count_rows(con: duckdb.DuckDBPyConnection, metric: str = "store.test") -> int:
    """Gauge rows of ``metric`` in the database ``con`` opens."""
    row = con.execute("SELECT count(*) FROM otel_metrics_gauge WHERE metric_name = ?", [metric]).fetchone()
    assert row is not None
    return int(row[0])


__all__ = ["count_rows", "gauge_batch"]
