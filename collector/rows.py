"""Column builders that turn decoded OTLP into Arrow tables, one per signal table.

A decoder (``otlp_proto``, ``otlp_json``) walks a request and calls these
builders; rows of one resource/scope/metric share a *context* that is stored
once and repeated into the points with a single ``take``. This keeps the
per-point Python work to the few values that really differ per point.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from collector.schema import PROMOTED_RESOURCE_ATTRIBUTES, RESOURCE_COLUMNS, TABLES, arrow_schema

Attributes = list[tuple[str, str]]
"""Attributes as (key, text) pairs: strings as they are, anything else JSON-encoded."""

_METRIC_CONTEXT = ["metric_name", "metric_description", "metric_unit"]
_RESOURCE_NAMES = [c.name for c in RESOURCE_COLUMNS]


def attribute_text(value: Any) -> str:
    """The text stored for one attribute value: a string as it is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def resource_context(attributes: Attributes, schema_url: str) -> list[Any]:
    """Values of the promoted resource columns, the attribute map and the schema URL."""
    promoted: dict[str, str | None] = dict.fromkeys(PROMOTED_RESOURCE_ATTRIBUTES.values())
    for key, value in attributes:
        column = PROMOTED_RESOURCE_ATTRIBUTES.get(key)
        if column is not None:
            promoted[column] = value
    return [*promoted.values(), attributes, schema_url or None]


def scope_context(name: str, version: str, attributes: Attributes, schema_url: str) -> list[Any]:
    return [name or None, version or None, attributes, schema_url or None]


def series_key(*parts: Any) -> bytes:
    """A stable byte key for the series identity of a metric (without point attributes)."""
    return orjson.dumps(parts)


def series_id(key: bytes, attributes: Attributes) -> int:
    """64-bit series id: the hash of the metric's identity and the point's attributes."""
    digest = hashlib.blake2b(key, digest_size=8)
    digest.update(orjson.dumps(sorted(attributes)))
    return int.from_bytes(digest.digest(), "little")


@dataclass
class TableRows:
    """The rows of one signal table built from one request."""

    table: str
    context_names: list[str]
    contexts: list[list[Any]] = field(default_factory=list)
    context_of_row: list[int] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in TABLES[self.table]]
        self.columns = {n: [] for n in names if n not in self.context_names}

    def add_context(self, values: list[Any]) -> int:
        self.contexts.append(values)
        return len(self.contexts) - 1

    def __len__(self) -> int:
        return len(self.context_of_row)

    def to_arrow(self) -> pa.Table:
        schema = arrow_schema(self.table)
        rows = pa.array(self.context_of_row, type=pa.int32())
        arrays: dict[str, pa.Array] = {}
        for i, name in enumerate(self.context_names):
            values = pa.array([ctx[i] for ctx in self.contexts], type=schema.field(name).type)
            arrays[name] = values.take(rows)
        for name, values in self.columns.items():
            arrays[name] = pa.array(values, type=schema.field(name).type)
        return pa.table([arrays[f.name] for f in schema], schema=schema)


def metric_rows(table: str) -> TableRows:
    return TableRows(table, _METRIC_CONTEXT + _RESOURCE_NAMES)


def signal_rows(table: str) -> TableRows:
    return TableRows(table, list(_RESOURCE_NAMES))


@dataclass
class Rejections:
    """What a request could not store, for OTLP's partial_success."""

    count: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str, count: int = 1) -> None:
        self.count += count
        if reason not in self.reasons and len(self.reasons) < 5:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)
