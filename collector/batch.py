"""What a decoder hands the store: Arrow tables for one export, with what was rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from collector.rows import Rejections, TableRows

Signal = Literal["metrics", "logs", "traces"]


@dataclass
class ExportBatch:
    """One decoded OTLP export, ready to be written in one transaction."""

    signal: Signal
    tables: dict[str, pa.Table] = field(default_factory=dict)
    accepted: int = 0
    rejected: Rejections = field(default_factory=Rejections)
    projections: dict[str, pa.Table] = field(default_factory=dict)
    projection_rejected: Rejections = field(default_factory=Rejections)

    @classmethod
    def from_rows(cls, signal: Signal, rows: list[TableRows], rejected: Rejections) -> ExportBatch:
        tables = {r.table: r.to_arrow() for r in rows if len(r)}
        accepted = sum(len(r) for r in rows)
        return cls(signal, tables, accepted, rejected)
