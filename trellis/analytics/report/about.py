"""The report's about part: which analytics tables it read and for which period (coverage), what the store
holds for the period (inputs), and the teams its sections name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from trellis.analytics.registry import JOBS
from trellis.analytics.report.model import Section
from trellis.analytics.report.query import Query
from trellis.analytics.sources import Period


def read_coverage(q: Query, period: Period) -> pl.DataFrame:
    """Per job: its table, the rows of its answer, the period asked, and ``ok``/``empty``/``missing``."""
    rows = []
    for name, job in JOBS.items():
        row: dict[str, Any] = {
            "job": name,
            "table": job.table,
            "rows": None,
            "computed_from": None,
            "computed_to": None,
            "status": "missing",
        }
        if job.table in q.available:
            found = int(q.reader.sql(f"SELECT count(*) AS n FROM {job.table}")["n"][0])
            row.update(rows=found, computed_from=period.start, computed_to=period.end)
            row["status"] = "empty" if found == 0 else "ok"
        rows.append(row)
    schema: dict[str, pl.DataType] = {
        "job": pl.String(),
        "table": pl.String(),
        "rows": pl.Int64(),
        "computed_from": pl.Datetime("us"),
        "computed_to": pl.Datetime("us"),
        "status": pl.String(),
    }
    return pl.DataFrame(rows, schema=schema)


_INPUTS = [
    ("deployments", "deployments", "finished_at", None),
    ("incidents", "incidents", "opened_at", None),
    ("metric points (gauges)", "otel_metrics_gauge", "time", None),
    ("metric points (sums)", "otel_metrics_sum", "time", None),
    ("catalog bindings", "catalog_bindings", "resolved_at", "tz"),
    ("catalog misses", "catalog_misses", "missed_at", "tz"),
]
"""Label, table, time column, and whether that column is a TIMESTAMPTZ."""


def read_inputs(q: Query, period: Period, team: str | None) -> pl.DataFrame:
    """Rows in the period of each input table the store has: deployments, incidents, metric points..."""
    parts, labels = [], {}
    for i, (label, table, column, zone) in enumerate(_INPUTS):
        if table not in q.available:
            continue
        start, end = ("CAST($period_start AS TIMESTAMPTZ)", "CAST($period_end AS TIMESTAMPTZ)") if zone else (
            "CAST($period_start AS TIMESTAMP)", "CAST($period_end AS TIMESTAMP)"
        )  # fmt: skip
        labels[f"label_{i}"], labels[f"table_{i}"] = label, table
        parts.append(
            f"SELECT $label_{i} AS data, $table_{i} AS source_table, count(*) AS rows "
            f"FROM {table} WHERE {column} >= {start} AND {column} < {end}"
        )
    if not parts:
        return pl.DataFrame(schema={"data": pl.String, "source_table": pl.String, "rows": pl.Int64})
    return q.store_sql(" UNION ALL ".join(parts), **labels).with_columns(pl.col("rows").cast(pl.Int64))


def section_teams(sections: Iterable[Section]) -> list[str]:
    """Every team a section's tables name, sorted."""
    names: set[str] = set()
    for section in sections:
        for table in section.tables:
            if "team" in table.frame.columns:
                names.update(t for t in table.frame["team"].drop_nulls().to_list())
    return sorted(names)


__all__ = ["read_coverage", "read_inputs", "section_teams"]
