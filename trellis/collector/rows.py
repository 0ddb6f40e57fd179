"""Column builders that turn decoded OTLP into Arrow tables, one per signal table.

A decoder (``otlp_proto``, ``otlp_json``) walks a request and calls these
builders; rows of one resource/scope/metric share a *context* that is stored
once. This keeps the per-point Python work to the few values that really
differ per point.

Columns whose values repeat across rows (the context columns, and the
``attributes`` map, which takes few distinct values in real exports) become
Arrow *dictionary* arrays: each distinct value is converted once, and DuckDB
reads a dictionary as a selection over its values, so it builds and checks
each distinct map once instead of once per row. The stored values are the
same as with plain arrays.
"""

from __future__ import annotations

import gc
import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from trellis.collector.schema import (
    PROMOTED_RESOURCE_ATTRIBUTES,
    RESOURCE_NAMES,
    SCOPE_COLUMNS,
    TABLES,
    resource_id,
    stored_schema,
)

Attributes = list[tuple[str, str]]
"""Attributes as (key, text) pairs: strings as they are, anything else JSON-encoded."""

AttributeKey = tuple[tuple[str, str], ...]
"""The same pairs as a tuple, so that a set of attributes can key a dict."""

INTERNED_COLUMNS = ("attributes",)
"""Per-row columns whose rows hold an index into the table's distinct values (see ``Interned``)."""

_METRIC_CONTEXT = ["metric_name", "metric_description", "metric_unit"]
_CONTEXT_NAMES = [*RESOURCE_NAMES, *(c.name for c in SCOPE_COLUMNS)]


class _GcPause:
    """How many decodes hold the cyclic garbage collector off, and since when (see ``gc_paused``)."""

    MAX_SECONDS = 1.0
    """How long decodes that overlap may keep it off before the young generations are collected."""

    FULL_SECONDS = 60.0
    """How long they may go without a full collection, which traverses every tracked object."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.decoding = 0
        self.was_enabled = False
        self.since = 0.0
        self.full_since = time.monotonic()

    def due(self) -> int | None:
        """The generation to collect now, if any (call with ``lock`` held, while decodes overlap)."""
        now = time.monotonic()
        if now - self.since <= self.MAX_SECONDS:
            return None
        self.since = now
        if now - self.full_since > self.FULL_SECONDS:
            self.full_since = now
            return 2
        return 1


_gc_pause = _GcPause()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while a request is decoded.

    A decode allocates hundreds of thousands of containers (JSON objects and
    arrays, tuples) that reference counting frees. Each counts towards the
    collector's thresholds, and the collections they trigger traverse every
    tracked object of the process: in a running collector, half the time of a
    JSON decode. Collection resumes when no decode runs. While decodes overlap,
    the young generations are collected once a second and all of them once a
    minute: a full collection every second cost a tenth of the decode time.
    """
    state = _gc_pause
    with state.lock:
        if state.decoding == 0:
            state.was_enabled, state.since = gc.isenabled(), time.monotonic()
            gc.disable()
        state.decoding += 1
    try:
        yield
    finally:
        with state.lock:
            state.decoding -= 1
            last = state.decoding == 0
            generation = state.due()
            if last and state.was_enabled:
                gc.enable()
        if generation is not None and not last and state.was_enabled:
            gc.collect(generation)


def attribute_text(value: Any) -> str:
    """The text stored for one attribute value: a string as it is, anything else as JSON.

    JSON has no NaN or infinities; a double attribute that is one is stored the
    way OTLP's JSON mapping writes it: ``NaN``, ``Infinity``, ``-Infinity``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return orjson.dumps(value).decode()


def unique_keys(pairs: Any) -> tuple[Any, int]:
    """The pairs with each key once, holding its last value (OTLP forbids a key twice in one map;
    a map in DuckDB cannot hold one twice), and how many pairs were dropped."""
    if not isinstance(pairs, (list, tuple)) or len(pairs) < 2:
        return pairs, 0
    last = dict(pairs)
    if len(last) == len(pairs):
        return pairs, 0
    return type(pairs)(last.items()), len(pairs) - len(last)


def _unique_nested(value: Any) -> tuple[Any, int]:
    """Span events and links: each one's ``attributes`` with unique keys."""
    if not value:
        return value, 0
    dropped, out = 0, []
    for item in value:
        pairs, n = unique_keys(item.get("attributes"))
        dropped += n
        out.append({**item, "attributes": pairs} if n else item)
    return (out if dropped else value), dropped


NESTED_MAP_COLUMNS = ("events", "links")
"""Columns whose items hold an attribute map of their own."""


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


class SeriesKeys:
    """``series_key(context, *metric)`` for the metrics of one request, each context list (a scope's
    resource and scope values, shared by its metrics) encoded once rather than once per metric."""

    def __init__(self) -> None:
        self._encoded: dict[int, tuple[list[Any], bytes]] = {}

    def key(self, context: list[Any], *metric: Any) -> bytes:
        known = self._encoded.get(id(context))
        if known is None or known[0] is not context:
            known = self._encoded[id(context)] = (context, orjson.dumps(context))
        return b"[" + known[1] + b"," + orjson.dumps(metric)[1:]  # what orjson.dumps((context, *metric)) gives


def series_id(key: bytes, attributes: Attributes | AttributeKey) -> int:
    """64-bit series id: the hash of the metric's identity and the point's attributes."""
    digest = hashlib.blake2b(key, digest_size=8)
    digest.update(orjson.dumps(sorted(attributes)))
    return int.from_bytes(digest.digest(), "little")


class Interned:
    """The distinct values of one column of one request, in order of first appearance."""

    __slots__ = ("_index", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._index: dict[Any, int] = {}

    def index(self, value: Any) -> int:
        """The position of ``value`` among the distinct values, adding it if new."""
        try:
            position = self._index.get(value)
        except TypeError:  # unhashable: a JSON attribute key that is no string; Arrow refuses it later
            return self.append(value)
        if position is None:
            position = self._index[value] = len(self.values)
            self.values.append(value)
        return position

    def append(self, value: Any) -> int:
        """Add ``value`` as a distinct value of its own."""
        self.values.append(value)
        return len(self.values) - 1


class AttributeSets(Interned):
    """The distinct attribute sets of a table: the ``attributes`` column's dictionary.

    Besides a set itself it can key a set by its raw protobuf bytes (one
    serialized KeyValue per attribute), so the protobuf decoder converts each
    distinct set once per request, and it keeps each set's sorted JSON, the
    part of the series id that depends on the point.
    """

    __slots__ = ("_by_raw", "_encoded")

    def __init__(self) -> None:
        super().__init__()
        self._by_raw: dict[tuple[bytes, ...], int] = {}
        self._encoded: dict[int, bytes] = {}

    def index_raw(self, raw: tuple[bytes, ...], convert: Callable[[tuple[bytes, ...]], AttributeKey]) -> int:
        """The index of the set whose raw bytes are ``raw``; ``convert`` turns them into pairs when new."""
        position = self._by_raw.get(raw)
        if position is None:
            position = self._by_raw[raw] = self.index(convert(raw))
        return position

    def sorted_json(self, index: int) -> bytes:
        """What ``series_id`` hashes after the metric's key, for the set at ``index``."""
        encoded = self._encoded.get(index)
        if encoded is None:
            encoded = self._encoded[index] = orjson.dumps(sorted(self.values[index]))
        return encoded


class _KnownSeries:
    """Series ids computed before, by metric key and attribute set: exporters send the same
    series in every export, and hashing is a sixth of a protobuf point's decode time.

    Bounded: when it holds ``MAX_SERIES`` ids it starts again empty.
    """

    MAX_SERIES = 200_000

    def __init__(self) -> None:
        self.by_metric: dict[bytes, dict[bytes, int]] = {}
        self.count = 0

    def of_metric(self, key: bytes) -> dict[bytes, int]:
        """The ids known for the metric whose series key is ``key``, by sorted attribute JSON."""
        if self.count >= self.MAX_SERIES:
            self.by_metric, self.count = {}, 0
        known = self.by_metric.get(key)
        if known is None:
            known = self.by_metric[key] = {}
        return known


_known_series = _KnownSeries()


class SeriesIds:
    """``series_id(key, attributes)`` for the points of one metric, without its repeated work.

    An id computed for an earlier export is looked up (``_KnownSeries``). Otherwise
    the metric's key (hundreds of bytes: the resource is part of it) is hashed
    once and the hash state copied per point; the attribute part comes encoded
    from ``AttributeSets``.
    """

    __slots__ = ("_hasher", "_key", "_known", "_sets")

    def __init__(self, rows: TableRows, key: bytes) -> None:
        self._sets = rows.interned["attributes"]
        self._key = key
        self._hasher: Any = None
        self._known = _known_series.of_metric(key)

    def of(self, index: int) -> int:
        """The series id of the metric's points whose attributes are set ``index``."""
        encoded = self._sets.sorted_json(index)
        known = self._known.get(encoded)
        if known is not None:
            return known
        if self._hasher is None:
            self._hasher = hashlib.blake2b(self._key, digest_size=8)
        digest = self._hasher.copy()
        digest.update(encoded)
        known = self._known[encoded] = int.from_bytes(digest.digest(), "little")
        _known_series.count += 1
        return known

    def lookup(self, attributes: AttributeKey) -> tuple[int, int]:
        """(index of ``attributes`` among the table's sets, series id)."""
        index = self._sets.index(attributes)
        return index, self.of(index)


_MAP_CONTEXT = {"resource_attributes", "scope_attributes"}
"""Context columns that hold maps, whose keys must be made unique; the others hold plain values."""


@dataclass
class TableRows:
    """The rows of one signal table built from one request.

    ``columns`` holds one list per per-row column; for the ``INTERNED_COLUMNS``
    the list holds indexes into ``interned[name].values``.
    """

    table: str
    context_names: list[str]
    contexts: list[list[Any]] = field(default_factory=list)
    context_of_row: list[int] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)
    interned: dict[str, AttributeSets] = field(default_factory=dict)
    duplicate_keys: int = 0
    """Attribute pairs ``to_arrow`` dropped because their key came again later in the same map."""
    _appends: tuple[Callable[[Any], None], ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        names = [c.name for c in TABLES[self.table]]
        self.columns = {n: [] for n in names if n not in self.context_names}
        self.interned = {n: AttributeSets() for n in INTERNED_COLUMNS if n in self.columns}

    def number_appends(self) -> tuple[Callable[[Any], None], ...]:
        """The ``append`` of the columns every gauge and sum point fills, bound once per request: value,
        int_value, series_id, start_time, time, attributes, flags, exemplars."""
        if self._appends is None:
            names = ("value", "int_value", "series_id", "start_time", "time", "attributes", "flags", "exemplars")
            self._appends = tuple(self.columns[n].append for n in names)
        return self._appends

    def add_context(self, values: list[Any]) -> int:
        self.contexts.append(values)
        return len(self.contexts) - 1

    def add_attributes(self, attributes: AttributeKey) -> None:
        """Append one row's attributes (rows without a series id)."""
        self.columns["attributes"].append(self.interned["attributes"].index(attributes))

    def __len__(self) -> int:
        return len(self.context_of_row)

    def to_arrow(self) -> tuple[pa.Table, dict[int, list[Any]]]:
        """The rows in the stored layout, and the resources they refer to, by ``resource_id``.

        Contexts share their values: the metrics of one resource carry the same resource and scope objects,
        so each distinct one is deduplicated and hashed once (by identity), not once per metric."""
        schema = stored_schema(self.table)
        rows = pa.array(self.context_of_row, type=pa.int32())
        first = self.context_names.index(RESOURCE_NAMES[0])
        resource_part = slice(first, first + len(RESOURCE_NAMES))
        resources: dict[int, list[Any]] = {}
        seen: dict[tuple[int, ...], int] = {}
        ids = []
        for ctx in self.contexts:
            part = ctx[resource_part]
            same = tuple(map(id, part))
            key = seen.get(same)
            if key is None:
                values = self._unique(part)
                key = seen[same] = resource_id(values)
                resources.setdefault(key, values)
            ids.append(key)
        arrays = {"resource_id": pa.DictionaryArray.from_arrays(rows, pa.array(ids, type=pa.uint64()))}
        for i, name in enumerate(self.context_names):
            if name not in arrays and not resource_part.start <= i < resource_part.stop:
                column = [ctx[i] for ctx in self.contexts]
                if name in _MAP_CONTEXT:
                    column = self._unique_once(column)
                arrays[name] = pa.DictionaryArray.from_arrays(rows, pa.array(column, type=schema.field(name).type))
        for name, values in self.columns.items():
            if name in self.interned:
                distinct = pa.array(self._unique(self.interned[name].values), type=schema.field(name).type)
                arrays[name] = pa.DictionaryArray.from_arrays(pa.array(values, type=pa.int32()), distinct)
            elif name in NESTED_MAP_COLUMNS:
                arrays[name] = pa.array(self._unique(values, _unique_nested), type=schema.field(name).type)
            else:
                arrays[name] = pa.array(values, type=schema.field(name).type)
        return pa.table([arrays[f.name] for f in schema], names=schema.names), resources

    def _unique(self, values: list[Any], dedupe: Callable[[Any], tuple[Any, int]] = unique_keys) -> list[Any]:
        """``values`` with every attribute map's keys unique, counting what was dropped."""
        out = []
        for value in values:
            kept, dropped = dedupe(value)
            self.duplicate_keys += dropped
            out.append(kept)
        return out

    def _unique_once(self, maps: list[Any]) -> list[Any]:
        """``_unique`` of a context column whose rows share map objects: each distinct object once."""
        done: dict[int, Any] = {}
        out = []
        for value in maps:
            kept = done.get(id(value), done)
            if kept is done:
                kept = done[id(value)] = self._unique([value])[0]
            out.append(kept)
        return out


def metric_rows(table: str) -> TableRows:
    return TableRows(table, _METRIC_CONTEXT + _CONTEXT_NAMES)


def signal_rows(table: str) -> TableRows:
    return TableRows(table, list(_CONTEXT_NAMES))


@dataclass
class Rejections:
    """What a request could not store, for OTLP's partial_success."""

    count: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str, count: int = 1) -> None:
        self.count += count
        self.warn(reason)

    def warn(self, reason: str) -> None:
        """A reason to report without rejecting anything (OTLP: partial_success with 0 rejected)."""
        if reason not in self.reasons and len(self.reasons) < 5:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)
