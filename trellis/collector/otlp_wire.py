"""Decoding OTLP protobuf metrics exports without visiting each field from Python.

Exports shaped like the OpenTelemetry Collector's receivers (many metrics of one to five points)
cost ``otlp_proto`` 5 to 12 µs a point: each field of each metric and point is read through the
protobuf runtime from Python. Here a compiled pass (``otlp_wire_kernels``, ``otlp_wire_tables``: numba) reads the wire
format once and returns numbers: offsets into the body of each resource, scope, metric name and
point attribute set, and each point's times, value and flags. Python then touches only what is
distinct:

- Resources, scopes, metric names, descriptions and units, and point attribute sets are parsed once
  per process (by the same protobuf types as ``otlp_proto``) and remembered by their bytes, each
  with a number (``_Known``).
- A series id is remembered by the numbers of what makes the series (resource, scope, name, unit,
  type, temporality, monotonicity, attribute set); ids not known yet are computed exactly as
  ``rows.SeriesIds`` computes them. Stored series ids do not change.
- The columns are built from numpy arrays; repeated values (names, resources, scopes, attribute
  sets) are dictionary arrays over the distinct values, as ``rows.TableRows.to_arrow`` builds them.

The result is the ``ExportBatch`` that ``otlp_proto`` gives for the same body: the same rows, values,
series ids, resources and counts (``tests/collector/test_otlp_wire.py`` compares them). Only gauges
and sums of points with a value or the no-recorded-value flag, without exemplars, duplicate
attribute keys or repeated fields, take this way; anything else, and any body that is not valid
protobuf, returns None and ``otlp_proto`` decodes it as before, with the same answers and errors.

numba compiles the pass the first time a process needs it, which takes 15 to 60 s of CPU on a
machine that has never run it (then it loads from numba's cache in about a second). That happens
in a thread of its own (``warm_up``): until it is done, every export decodes with ``otlp_proto``.
``--no-wire-decoder`` (``TRELLIS_WIRE_DECODER=0``) turns this decoder off.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from trellis.collector import resources as res
from trellis.collector import rows as r
from trellis.collector.batch import ExportBatch
from trellis.collector.schema import resource_id, stored_schema

log = logging.getLogger("trellis.ingest")

_TS = pa.timestamp("ns", tz="UTC")
_KEY_WIDTH = 6
"""A series' numbers: resource, scope, name, unit, (type, temporality, monotonic), attribute set."""

_GAUGE, _SUM = 1, 2  # as otlp_wire_kernels numbers them
_TABLES = {_GAUGE: ("otel_metrics_gauge", "gauge"), _SUM: ("otel_metrics_sum", "sum")}
_SCOPE_NAMES = ("scope_name", "scope_version", "scope_attributes", "scope_schema_url")


class _Unsupported(Exception):
    """A body this decoder leaves to ``otlp_proto``."""


class _Known:
    """What earlier exports taught this process: resources, scopes, strings and attribute sets parsed, by
    their bytes, each with a number; and series ids by their numbers. Replaced whole when full, so that a
    process that sees ever new resources or series stays bounded (like ``rows._KnownSeries``)."""

    MAX_SERIES = 200_000
    MAX_ITEMS = 50_000

    def __init__(self) -> None:
        self.numbers = itertools.count()
        self.resources: dict[Any, tuple[int, list[Any], int]] = {}
        self.scopes: dict[Any, tuple[int, list[Any]]] = {}
        self.strings: dict[bytes, tuple[int, str]] = {}
        self.attributes: dict[bytes, tuple[int, r.AttributeKey, bytes]] = {}
        self.contexts: dict[tuple[int, int], bytes] = {}
        self.keys = np.zeros((self.MAX_SERIES, _KEY_WIDTH), np.int64)
        self.ids = np.zeros(self.MAX_SERIES, np.int64)
        self.slots = np.full(1 << 19, -1, np.int64)  # open addressing over ``keys``, at most 40% full
        self.count = 0

    def full(self) -> bool:
        items = len(self.resources) + len(self.scopes) + len(self.strings) + len(self.attributes)
        return self.count >= self.MAX_SERIES or items >= self.MAX_ITEMS


_known = _Known()
_lock = threading.Lock()
_kernels: Any = None
_warming: threading.Thread | None = None


def enabled() -> bool:
    return os.environ.get("TRELLIS_WIRE_DECODER", "1") != "0"


def warm_up() -> bool:
    """Import and compile (or load from numba's cache) the compiled pass, here and now; whether it is ready."""
    global _kernels
    if _kernels is None and enabled():
        try:
            from trellis.collector import otlp_wire_kernels, otlp_wire_tables

            kernels = SimpleNamespace(
                parse_metrics=otlp_wire_kernels.parse_metrics,
                OK=otlp_wire_kernels.OK,
                FULL=otlp_wire_kernels.FULL,
                AS_INT=otlp_wire_kernels.AS_INT,
                dedupe_spans=otlp_wire_tables.dedupe_spans,
                series_lookup=otlp_wire_tables.series_lookup,
                series_insert=otlp_wire_tables.series_insert,
            )
            _fast(kernels, b"")  # every compiled function once, as exports call them
            empty = np.zeros((0, _KEY_WIDTH), np.int64)
            kernels.series_insert(empty, np.zeros(0, np.int64), np.full(1, -1, np.int64), 0, empty, empty[:, 0])
            _kernels = kernels
            log.info("the compiled OTLP metrics decoder is ready")
        except Exception as exc:  # no numba for this platform, no cache directory...: otlp_proto decodes all
            log.warning("the compiled OTLP metrics decoder is unavailable, decoding with protobuf: %s", exc)
            os.environ["TRELLIS_WIRE_DECODER"] = "0"
    return _kernels is not None


def configure(on: bool) -> None:
    """Turn the compiled decoder on or off for this process and the processes it starts; when on, start
    compiling (or loading) it now rather than with the first export."""
    os.environ["TRELLIS_WIRE_DECODER"] = "1" if on else "0"
    if on:
        _start_warm_up()


def ready() -> bool:
    """Whether the compiled pass is loaded: exports decode here."""
    return _kernels is not None


def _start_warm_up() -> None:
    global _warming
    with _lock:
        if _warming is None and enabled():
            _warming = threading.Thread(target=warm_up, name="trellis-wire-decoder-compile", daemon=True)
            _warming.start()


def decode_metrics(body: bytes) -> ExportBatch | None:
    """The ExportBatch of an OTLP metrics export, or None: ``otlp_proto`` decodes it (a body this decoder
    leaves to it, or the compiled pass is not ready yet)."""
    kernels = _kernels
    if kernels is None:
        _start_warm_up()
        return None
    return _fast(kernels, body)


def _fast(kernels: Any, body: bytes) -> ExportBatch | None:
    buf = np.frombuffer(body, np.uint8)
    n = len(body)
    parsed = kernels.parse_metrics(buf, n // 16 + 16, n // 32 + 16, n // 64 + 16, n // 256 + 16)
    if parsed[0] == kernels.FULL:  # tiny points: room for as many as the body could hold
        most = n // 2 + 1
        parsed = kernels.parse_metrics(buf, most, most, most, most)
    if parsed[0] != kernels.OK:
        return None
    try:
        return _Decode(kernels, body, buf, parsed[1:]).batch()
    except (_Unsupported, DecodeError, UnicodeDecodeError):
        return None
    except Exception:  # whatever else: otlp_proto's answer is the one that counts
        log.exception("the compiled OTLP metrics decoder failed on a body; decoding it with protobuf")
        return None


def _known_now() -> _Known:
    global _known
    with _lock:
        if _known.full():
            _known = _Known()
        return _known


def _unique_keys(pairs: Any) -> None:
    if len(pairs) > 1 and len({key for key, _ in pairs}) != len(pairs):
        raise _Unsupported  # duplicate keys: otlp_proto keeps the last and reports how many it dropped


def _key(raw: bytes, schema_url: bytes) -> Any:
    return (raw, schema_url) if schema_url else raw


class _Decode:
    """One export, from the compiled pass's arrays."""

    def __init__(self, kernels: Any, body: bytes, buf: np.ndarray, parsed: tuple[Any, ...]) -> None:
        (cnt, r_span, s_res, s_span, m_scope, m_str, m_info, p_metric, p_start, p_time, p_bits, p_kind, p_flags,
         p_attr) = parsed  # fmt: skip
        n_res, n_scopes, n_metrics, n_points = (int(c) for c in cnt)
        self.kernels, self.body, self.buf, self.known = kernels, body, buf, _known_now()
        self.r_span, self.s_span = r_span[:n_res], s_span[:n_scopes]
        self.s_res, self.m_scope = s_res[:n_scopes], m_scope[:n_metrics]
        self.m_str, self.m_info = m_str[:n_metrics], m_info[:n_metrics]
        self.p_metric, self.p_start, self.p_time = p_metric[:n_points], p_start[:n_points], p_time[:n_points]
        self.p_bits, self.p_kind, self.p_flags = p_bits[:n_points], p_kind[:n_points], p_flags[:n_points]
        self.p_attr = p_attr[:n_points]

    def batch(self) -> ExportBatch:
        body = self.body
        self.resources = [self._resource(body[a:b], body[c:d]) for a, b, c, d in self.r_span.tolist()]
        self.scopes = [self._scope(body[a:b], body[c:d]) for a, b, c, d in self.s_span.tolist()]
        self.strings = [self._distinct(self.m_str, column, self._string) for column in (0, 2, 4)]
        self.attr_ids, self.attr_sets = self._distinct(self.p_attr, 0, self._attribute_set)
        self.series = self._series_ids()
        tables: dict[str, pa.Table] = {}
        resources: dict[int, list[Any]] = {}
        metric_kind = self.m_info[:, 0]
        point_kind = metric_kind[self.p_metric]
        for kind, (table, _) in _TABLES.items():
            rows = np.flatnonzero(point_kind == kind)
            if not len(rows):
                continue
            # the resources of all the table's metrics, in order, as TableRows.to_arrow lists them
            of_metrics = self.s_res[self.m_scope[metric_kind == kind]]
            _, first = np.unique(of_metrics, return_index=True)
            for local in of_metrics[np.sort(first)].tolist():
                _, values, rid = self.resources[local]
                resources.setdefault(rid, values)
            tables[table] = self._table(table, rows)
        accepted = sum(t.num_rows for t in tables.values())
        return ExportBatch("metrics", tables, accepted, r.Rejections(), resources=res.resources_table(resources))

    def _resource(self, raw: bytes, schema_url: bytes) -> tuple[int, list[Any], int]:
        key = _key(raw, schema_url)
        found = self.known.resources.get(key)
        if found is None:
            attributes = _attributes(resource_pb2.Resource.FromString(raw).attributes)
            values = r.resource_context(attributes, schema_url.decode())
            found = self.known.resources.setdefault(key, (next(self.known.numbers), values, resource_id(values)))
        return found

    def _scope(self, raw: bytes, schema_url: bytes) -> tuple[int, list[Any]]:
        key = _key(raw, schema_url)
        found = self.known.scopes.get(key)
        if found is None:
            scope = common_pb2.InstrumentationScope.FromString(raw)
            values = r.scope_context(scope.name, scope.version, _attributes(scope.attributes), schema_url.decode())
            found = self.known.scopes.setdefault(key, (next(self.known.numbers), values))
        return found

    def _string(self, raw: bytes) -> tuple[int, str]:
        found = self.known.strings.get(raw)
        if found is None:
            found = self.known.strings.setdefault(raw, (next(self.known.numbers), raw.decode()))
        return found

    def _attribute_set(self, raw: bytes) -> tuple[int, r.AttributeKey, bytes]:
        """A point's attributes, from their bytes (fields of a NumberDataPoint): the pairs and their sorted JSON."""
        found = self.known.attributes.get(raw)
        if found is None:
            from trellis.collector.otlp_values import attribute_key

            pairs = attribute_key(metrics_pb2.NumberDataPoint.FromString(raw).attributes)
            _unique_keys(pairs)
            found = self.known.attributes.setdefault(
                raw, (next(self.known.numbers), pairs, orjson.dumps(sorted(pairs)))
            )
        return found

    def _distinct(self, spans: np.ndarray, column: int, read: Any) -> tuple[np.ndarray, list[Any]]:
        """Each span's number among the distinct byte strings of ``spans[:, column:column+2]``, and what
        ``read`` makes of each distinct one."""
        ids, first = self.kernels.dedupe_spans(self.buf, spans, column)
        body = self.body
        return ids, [read(body[a:b]) for a, b in spans[first, column : column + 2].tolist()]

    def _series_ids(self) -> np.ndarray:
        """Each point's series id (as int64): known ones looked up by their numbers, new ones computed."""
        number = np.array([info[0] for info in self.resources], np.int64)
        resource_of_metric = number[self.s_res][self.m_scope] if len(number) else np.zeros(0, np.int64)
        scope_number = np.array([info[0] for info in self.scopes], np.int64)
        (name_ids, names), _, (unit_ids, units) = self.strings
        info = self.m_info
        metric_keys = np.stack(
            [
                resource_of_metric,
                scope_number[self.m_scope] if len(scope_number) else np.zeros(0, np.int64),
                np.array([t[0] for t in names], np.int64)[name_ids] if names else np.zeros(0, np.int64),
                np.array([t[0] for t in units], np.int64)[unit_ids] if units else np.zeros(0, np.int64),
                info[:, 0] * 1024 + info[:, 1] * 2 + info[:, 2],
            ],
            axis=1,
        )
        keys = np.empty((len(self.p_metric), _KEY_WIDTH), np.int64)
        keys[:, :5] = metric_keys[self.p_metric]
        sets = np.array([s[0] for s in self.attr_sets], np.int64)
        keys[:, 5] = sets[self.attr_ids] if len(sets) else 0
        known = self.known
        with _lock:
            ids, found = self.kernels.series_lookup(known.keys, known.ids, known.slots, keys)
        if not found.all():
            self._new_series(ids, found, keys)
        return ids

    def _new_series(self, ids: np.ndarray, found: np.ndarray, keys: np.ndarray) -> None:
        """Series ids not known yet, computed as ``rows.SeriesIds`` computes them, and remembered."""
        missing = np.flatnonzero(~found)
        hashers: dict[int, Any] = {}
        (name_ids, names), _, (unit_ids, units) = self.strings
        for i in missing.tolist():
            m = int(self.p_metric[i])
            hasher = hashers.get(m)
            if hasher is None:
                scope = int(self.m_scope[m])
                resource = self.resources[int(self.s_res[scope])]
                context = self._context_json(resource, self.scopes[scope])
                kind, temporality, monotonic = (int(v) for v in self.m_info[m])
                metric = (names[name_ids[m]][1], units[unit_ids[m]][1], _TABLES[kind][1], temporality, bool(monotonic))
                key = b"[" + context + b"," + orjson.dumps(metric)[1:]  # what rows.SeriesKeys.key gives
                hasher = hashers[m] = hashlib.blake2b(key, digest_size=8)
            digest = hasher.copy()
            digest.update(self.attr_sets[self.attr_ids[i]][2])
            ids[i] = int.from_bytes(digest.digest(), "little", signed=True)
        known = self.known
        with _lock:
            known.count = self.kernels.series_insert(
                known.keys, known.ids, known.slots, known.count, keys[missing], ids[missing]
            )

    def _context_json(self, resource: tuple[int, list[Any], int], scope: tuple[int, list[Any]]) -> bytes:
        """``orjson.dumps`` of the resource's and scope's context values: the start of a series key."""
        contexts = self.known.contexts
        found = contexts.get((resource[0], scope[0]))
        if found is None:
            found = contexts.setdefault((resource[0], scope[0]), orjson.dumps(resource[1] + scope[1]))
        return found

    def _table(self, table: str, rows: np.ndarray) -> pa.Table:
        """One table's rows (``rows``: positions among the export's points) in the stored layout."""
        schema = stored_schema(table)
        metric = self.p_metric[rows]
        scope = self.m_scope[metric]
        (name_ids, names), (desc_ids, descriptions), (unit_ids, units) = self.strings
        arrays: dict[str, pa.Array] = {
            "metric_name": _dictionary(name_ids[metric], [t for _, t in names], pa.string()),
            "metric_description": _dictionary(desc_ids[metric], [t or None for _, t in descriptions], pa.string()),
            "metric_unit": _dictionary(unit_ids[metric], [t or None for _, t in units], pa.string()),
            "resource_id": _dictionary(self.s_res[scope], [info[2] for info in self.resources], pa.uint64()),
        }
        for i, name in enumerate(_SCOPE_NAMES):
            arrays[name] = _dictionary(scope, [info[1][i] for info in self.scopes], schema.field(name).type)
        start, time = self.p_start[rows], self.p_time[rows]
        kind, bits = self.p_kind[rows], self.p_bits[rows]
        is_int = kind == self.kernels.AS_INT
        attributes = [pairs for _, pairs, _ in self.attr_sets]
        arrays |= {
            "series_id": pa.array(self.series[rows].view(np.uint64)),
            "start_time": pa.array(start, _TS, mask=start == 0),
            "time": pa.array(time, _TS, mask=time == 0),
            "attributes": _dictionary(self.attr_ids[rows], attributes, schema.field("attributes").type),
            "flags": pa.array(self.p_flags[rows].astype(np.uint32)),
            "exemplars": pa.nulls(len(rows), pa.string()),
            "value": pa.array(np.where(is_int, bits.astype(np.float64), bits.view(np.float64)), mask=kind == 0),
            "int_value": pa.array(bits, mask=~is_int),
        }
        if table == "otel_metrics_sum":
            arrays["aggregation_temporality"] = pa.array(self.m_info[metric, 1].astype(np.int8))
            arrays["is_monotonic"] = pa.array(self.m_info[metric, 2].astype(np.bool_))
        return pa.table([arrays[f.name] for f in schema], names=schema.names)


def _attributes(kvs: Any) -> r.Attributes:
    from trellis.collector.otlp_values import attributes

    pairs = attributes(kvs)
    _unique_keys(pairs)
    return pairs


def _dictionary(indices: np.ndarray, values: list[Any], type_: pa.DataType) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(values, type=type_))


__all__ = ["configure", "decode_metrics", "enabled", "ready", "warm_up"]
