"""What a decoder hands the store: Arrow tables for one export, with what was rejected."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from trellis.collector import resources as res
from trellis.collector.rows import Rejections, TableRows
from trellis.collector.schema import RESOURCES_SCHEMA

Signal = Literal["metrics", "logs", "traces"]


@dataclass
class ExportBatch:
    """One decoded OTLP export, ready to be written in one transaction.

    ``tables`` hold each signal table's rows in the stored layout (with
    ``resource_id``) and ``resources`` the resources they refer to; other
    callers may hand over rows in the queried layout, which the store splits.
    """

    signal: Signal
    tables: dict[str, pa.Table] = field(default_factory=dict)
    accepted: int = 0
    rejected: Rejections = field(default_factory=Rejections)
    projections: dict[str, pa.Table] = field(default_factory=dict)
    projection_rejected: Rejections = field(default_factory=Rejections)
    resources: pa.Table = field(default_factory=RESOURCES_SCHEMA.empty_table)

    @classmethod
    def from_rows(cls, signal: Signal, rows: list[TableRows], rejected: Rejections) -> ExportBatch:
        tables: dict[str, pa.Table] = {}
        resources: dict[int, list[Any]] = {}
        for table_rows in rows:
            if len(table_rows):
                tables[table_rows.table], of_table = table_rows.to_arrow()
                resources.update(of_table)
        accepted = sum(len(r) for r in rows)
        duplicates = sum(r.duplicate_keys for r in rows)
        if duplicates:
            rejected.warn(
                f"{duplicates} duplicate attribute keys: the last value of each was kept "
                "(OTLP allows a key once per map)"
            )
        return cls(signal, tables, accepted, rejected, resources=res.resources_table(resources))

    @functools.cached_property
    def nbytes(self) -> int:
        """The Arrow bytes the batch holds: what it weighs in the write queue."""
        tables = [*self.tables.values(), *self.projections.values(), self.resources]
        return sum(table.nbytes for table in tables)

    def rows(self, table: str, keep: pa.Array | None = None) -> pa.Table:
        """A table's rows in the layout queries see: with their resource's columns; only those
        ``keep`` marks, when given (filtered before the resources are joined)."""
        data = self.tables[table] if keep is None else self.tables[table].filter(keep)
        return res.join(table, data, self.resources) if res.is_stored_layout(data) else data
