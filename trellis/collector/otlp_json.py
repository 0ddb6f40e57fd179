"""Decoder for OTLP JSON (the protobuf JSON mapping with OTLP's exceptions).

Trace and span ids are hex (either case), 64-bit integers arrive as strings or
numbers, enums as integers, unknown fields are ignored and the old
``instrumentationLibrary*`` keys are read as their ``scope*`` successors.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from trellis.collector import rows as r
from trellis.collector.batch import ExportBatch, Signal
from trellis.collector.decode_errors import PayloadError
from trellis.collector.events import project_events

NO_RECORDED_VALUE = 1
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def decode(signal: Signal, body: bytes) -> ExportBatch:
    """Decode the JSON body of an OTLP export."""
    with r.gc_paused():
        return _decode(signal, body)


def _decode(signal: Signal, body: bytes) -> ExportBatch:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise PayloadError(f"an OTLP {signal} export must be a JSON object")
    try:
        if signal == "metrics":
            return _metrics(request)
        if signal == "logs":
            return project_events(_logs(request))
        return _traces(request)
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:
        raise PayloadError(f"the body is not a valid OTLP {signal} export: {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    return str(exc) if not isinstance(exc, KeyError) else f"missing field {exc}"


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"field {key!r} must be an array")
    return value


def _int(value: Any, name: str = "integer") -> int:
    if value.__class__ is str and value.isdecimal():  # the usual case, 64-bit integers as strings: decided at once
        return int(value)
    if value is None:
        return 0
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"{name} must be an integer, got {value!r}")


def _bool(value: Any, name: str) -> bool:
    """A JSON boolean; the strings "true" and "false" too, as protobuf's JSON mapping allows."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise TypeError(f"{name} must be true or false, got {value!r}")


def _float(value: Any, name: str = "number") -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL_FLOATS.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise TypeError(f"{name} must be a number, got {value!r}")


def _optional_float(obj: dict[str, Any], key: str) -> float | None:
    value = obj.get(key)
    return None if value is None else _float(value, key)


def _hex_id(value: Any, size: int, name: str) -> str | None:
    """A trace or span id as lower-case hex; empty means absent."""
    if not value:
        return None
    if not isinstance(value, str) or len(value) != size * 2:
        raise ValueError(f"{name} must be {size * 2} hex digits, got {value!r}")
    if not _HEX_DIGITS.issuperset(value):
        raise ValueError(f"{name} must be hex, got {value!r}")
    return value.lower()


def any_value(value: Any) -> Any:
    """The Python value of an OTLP JSON AnyValue."""
    if not value:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"an attribute value must be an object, got {value!r}")
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return _int(value["intValue"], "intValue")
    if "doubleValue" in value:
        return _float(value["doubleValue"], "doubleValue")
    if "boolValue" in value:
        return _bool(value["boolValue"], "boolValue")
    if "arrayValue" in value:
        return [any_value(v) for v in _list(value["arrayValue"] or {}, "values")]
    if "kvlistValue" in value:
        return {kv["key"]: any_value(kv.get("value")) for kv in _list(value["kvlistValue"] or {}, "values")}
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attribute_text(value: Any) -> str:
    """``attribute_text(any_value(value))``, with a short way for strings, which nearly all attributes are."""
    if value.__class__ is dict:
        text = value.get("stringValue")
        if text.__class__ is str:
            return text
    return r.attribute_text(any_value(value))


def attribute_key(kvs: list[Any] | None) -> r.AttributeKey:
    """Attributes as a tuple of (key, text) pairs, for the per-row ``attributes`` column."""
    if not kvs:
        return ()
    return tuple([(kv["key"], _attribute_text(kv.get("value"))) for kv in kvs])


def attributes(kvs: list[Any] | None) -> r.Attributes:
    if not kvs:
        return []
    return [(kv["key"], _attribute_text(kv.get("value"))) for kv in kvs]


def _resource(items: dict[str, Any]) -> list[Any]:
    resource = items.get("resource") or {}
    return r.resource_context(attributes(resource.get("attributes")), items.get("schemaUrl") or "")


def _scope(items: dict[str, Any]) -> list[Any]:
    scope = items.get("scope") or items.get("instrumentationLibrary") or {}
    return r.scope_context(
        scope.get("name") or "",
        scope.get("version") or "",
        attributes(scope.get("attributes")),
        items.get("schemaUrl") or "",
    )


def _scoped(items: dict[str, Any], key: str, legacy: str) -> list[Any]:
    return _list(items, key) or _list(items, legacy)


def _exemplars(point: dict[str, Any]) -> str | None:
    exemplars = point.get("exemplars")
    if not exemplars:
        return None
    out = []
    for e in exemplars:
        value = _float(e["asDouble"]) if "asDouble" in e else _int(e.get("asInt")) if "asInt" in e else None
        out.append(
            {
                "time_unix_nano": _int(e.get("timeUnixNano")),
                "value": value,
                "trace_id": _hex_id(e.get("traceId"), 16, "traceId"),
                "span_id": _hex_id(e.get("spanId"), 8, "spanId"),
                "filtered_attributes": dict(attributes(e.get("filteredAttributes"))),
            }
        )
    return r.attribute_text(out)


_METRIC_KINDS = {
    "gauge": "otel_metrics_gauge",
    "sum": "otel_metrics_sum",
    "histogram": "otel_metrics_histogram",
    "exponentialHistogram": "otel_metrics_exponential_histogram",
    "summary": "otel_metrics_summary",
}


def _metrics(request: dict[str, Any]) -> ExportBatch:
    tables = {kind: r.metric_rows(table) for kind, table in _METRIC_KINDS.items()}
    rejected = r.Rejections()
    for rm in _list(request, "resourceMetrics"):
        resource = _resource(rm)
        for sm in _scoped(rm, "scopeMetrics", "instrumentationLibraryMetrics"):
            scope = _scope(sm)
            for metric in _list(sm, "metrics"):
                _metric(tables, rejected, resource + scope, metric)
    return ExportBatch.from_rows("metrics", list(tables.values()), rejected)


def _metric(tables: dict[str, r.TableRows], rejected: r.Rejections, context: list[Any], metric: Any) -> None:
    name = metric.get("name") or ""
    kind = next((k for k in _METRIC_KINDS if metric.get(k) is not None), None)
    if kind is None:
        rejected.add(f"metric {name!r} has no data")
        return
    data = metric[kind]
    rows = tables[kind]
    temporality = _int(data.get("aggregationTemporality"), "aggregationTemporality")
    monotonic = _bool(data.get("isMonotonic", False), "isMonotonic")
    unit = metric.get("unit") or ""
    ctx = rows.add_context([name, metric.get("description") or None, unit or None, *context])
    proto_kind = "exponential_histogram" if kind == "exponentialHistogram" else kind
    series = r.SeriesIds(rows, r.series_key(context, name, unit, proto_kind, temporality, monotonic))
    if kind in ("gauge", "sum"):
        _number_points(rows, rejected, ctx, series, data, temporality, monotonic, name)
        return
    add_point = _POINT_WRITERS[kind]
    for point in _list(data, "dataPoints"):
        attrs = attribute_key(point.get("attributes"))
        problem = add_point(rows.columns, point, temporality, monotonic)
        if problem:
            rejected.add(f"metric {name!r}: {problem}")
            continue
        _common_point(rows, ctx, series, point, attrs)


def _common_point(
    rows: r.TableRows, ctx: int, series: r.SeriesIds, point: dict[str, Any], attrs: r.AttributeKey
) -> None:
    c = rows.columns
    attr_index, series_id = series.lookup(attrs)
    rows.context_of_row.append(ctx)
    c["series_id"].append(series_id)
    c["start_time"].append(_int(point.get("startTimeUnixNano"), "startTimeUnixNano") or None)
    c["time"].append(_int(point.get("timeUnixNano"), "timeUnixNano") or None)
    c["attributes"].append(attr_index)
    c["flags"].append(_int(point.get("flags"), "flags"))
    c["exemplars"].append(_exemplars(point))


def _number_points(
    rows: r.TableRows,
    rejected: r.Rejections,
    ctx: int,
    series: r.SeriesIds,
    data: dict[str, Any],
    temporality: int,
    monotonic: bool,
    name: str,
) -> None:
    """Gauge and sum points, the bulk of most exports: ``_number`` and ``_common_point`` in one loop.

    Fields are read (and refused) in the same order as there, so a bad point
    gives the same error; the appends are bound once, and the columns that
    are the same for all points of the metric are filled once at the end.
    """
    c = rows.columns
    lookup = series.lookup
    add_value, add_int, add_series = c["value"].append, c["int_value"].append, c["series_id"].append
    add_start, add_time, add_attrs = c["start_time"].append, c["time"].append, c["attributes"].append
    add_flags, add_exemplars = c["flags"].append, c["exemplars"].append
    count = 0
    for point in _list(data, "dataPoints"):
        attrs = attribute_key(point.get("attributes"))
        if point.get("asInt") is not None:
            exact = _int(point["asInt"], "asInt")
            add_value(float(exact))
            add_int(exact)
        elif point.get("asDouble") is not None:
            add_value(_float(point["asDouble"], "asDouble"))
            add_int(None)
        elif _int(point.get("flags"), "flags") & NO_RECORDED_VALUE:
            add_value(None)
            add_int(None)
        else:
            rejected.add(f"metric {name!r}: a data point has no value")
            continue
        attr_index, series_id = lookup(attrs)
        add_series(series_id)
        add_start(_int(point.get("startTimeUnixNano"), "startTimeUnixNano") or None)
        add_time(_int(point.get("timeUnixNano"), "timeUnixNano") or None)
        add_attrs(attr_index)
        add_flags(_int(point.get("flags"), "flags"))
        add_exemplars(_exemplars(point))
        count += 1
    rows.context_of_row.extend([ctx] * count)
    if "is_monotonic" in c:
        c["aggregation_temporality"].extend([temporality] * count)
        c["is_monotonic"].extend([monotonic] * count)


def _number(c: dict[str, list[Any]], point: dict[str, Any], temporality: int, monotonic: bool) -> str | None:
    if point.get("asInt") is not None:
        exact = _int(point["asInt"], "asInt")
        c["value"].append(float(exact))
        c["int_value"].append(exact)
    elif point.get("asDouble") is not None:
        c["value"].append(_float(point["asDouble"], "asDouble"))
        c["int_value"].append(None)
    elif _int(point.get("flags"), "flags") & NO_RECORDED_VALUE:
        c["value"].append(None)
        c["int_value"].append(None)
    else:
        return "a data point has no value"
    if "is_monotonic" in c:
        c["aggregation_temporality"].append(temporality)
        c["is_monotonic"].append(monotonic)
    return None


def _histogram(c: dict[str, list[Any]], point: dict[str, Any], temporality: int, monotonic: bool) -> str | None:
    counts = [_int(v, "bucketCounts") for v in _list(point, "bucketCounts")]
    bounds = [_float(v, "explicitBounds") for v in _list(point, "explicitBounds")]
    if counts and len(counts) != len(bounds) + 1:
        return f"a histogram point has {len(counts)} bucket counts for {len(bounds)} bounds"
    c["aggregation_temporality"].append(temporality)
    c["count"].append(_int(point.get("count"), "count"))
    c["sum"].append(_optional_float(point, "sum"))
    c["min"].append(_optional_float(point, "min"))
    c["max"].append(_optional_float(point, "max"))
    c["bucket_counts"].append(counts)
    c["explicit_bounds"].append(bounds)
    return None


def _buckets(point: dict[str, Any], key: str) -> tuple[int, list[int]]:
    buckets = point.get(key) or {}
    return _int(buckets.get("offset"), "offset"), [_int(v, "bucketCounts") for v in _list(buckets, "bucketCounts")]


def _exponential(c: dict[str, list[Any]], point: dict[str, Any], temporality: int, monotonic: bool) -> str | None:
    positive_offset, positive = _buckets(point, "positive")
    negative_offset, negative = _buckets(point, "negative")
    c["aggregation_temporality"].append(temporality)
    c["count"].append(_int(point.get("count"), "count"))
    c["sum"].append(_optional_float(point, "sum"))
    c["min"].append(_optional_float(point, "min"))
    c["max"].append(_optional_float(point, "max"))
    c["scale"].append(_int(point.get("scale"), "scale"))
    c["zero_count"].append(_int(point.get("zeroCount"), "zeroCount"))
    c["zero_threshold"].append(_optional_float(point, "zeroThreshold") or 0.0)
    c["positive_offset"].append(positive_offset)
    c["positive_bucket_counts"].append(positive)
    c["negative_offset"].append(negative_offset)
    c["negative_bucket_counts"].append(negative)
    return None


def _summary(c: dict[str, list[Any]], point: dict[str, Any], temporality: int, monotonic: bool) -> str | None:
    c["count"].append(_int(point.get("count"), "count"))
    c["sum"].append(_optional_float(point, "sum") or 0.0)
    c["quantile_values"].append(
        [
            {"quantile": _optional_float(q, "quantile") or 0.0, "value": _optional_float(q, "value") or 0.0}
            for q in _list(point, "quantileValues")
        ]
    )
    return None


_POINT_WRITERS = {
    "gauge": _number,
    "sum": _number,
    "histogram": _histogram,
    "exponentialHistogram": _exponential,
    "summary": _summary,
}


def _body(value: Any) -> str | None:
    native = any_value(value)
    return None if native is None else r.attribute_text(native)


def _logs(request: dict[str, Any]) -> ExportBatch:
    rows = r.signal_rows("otel_logs")
    c = rows.columns
    for rl in _list(request, "resourceLogs"):
        resource = _resource(rl)
        for sl in _scoped(rl, "scopeLogs", "instrumentationLibraryLogs"):
            ctx = rows.add_context(resource + _scope(sl))
            for rec in _list(sl, "logRecords"):
                rows.context_of_row.append(ctx)
                c["time"].append(_int(rec.get("timeUnixNano"), "timeUnixNano") or None)
                c["observed_time"].append(_int(rec.get("observedTimeUnixNano"), "observedTimeUnixNano") or None)
                c["severity_number"].append(_int(rec.get("severityNumber"), "severityNumber"))
                c["severity_text"].append(rec.get("severityText") or None)
                c["body"].append(_body(rec.get("body")))
                c["event_name"].append(rec.get("eventName") or None)
                c["trace_id"].append(_hex_id(rec.get("traceId"), 16, "traceId"))
                c["span_id"].append(_hex_id(rec.get("spanId"), 8, "spanId"))
                c["flags"].append(_int(rec.get("flags"), "flags"))
                rows.add_attributes(attribute_key(rec.get("attributes")))
                c["dropped_attributes_count"].append(_int(rec.get("droppedAttributesCount")))
    return ExportBatch.from_rows("logs", [rows], r.Rejections())


def _traces(request: dict[str, Any]) -> ExportBatch:
    rows = r.signal_rows("otel_traces")
    for rs in _list(request, "resourceSpans"):
        resource = _resource(rs)
        for ss in _scoped(rs, "scopeSpans", "instrumentationLibrarySpans"):
            ctx = rows.add_context(resource + _scope(ss))
            for span in _list(ss, "spans"):
                _span(rows, span)
                rows.context_of_row.append(ctx)
    return ExportBatch.from_rows("traces", [rows], r.Rejections())


def _span(rows: r.TableRows, span: dict[str, Any]) -> None:
    c = rows.columns
    start = _int(span.get("startTimeUnixNano"), "startTimeUnixNano")
    end = _int(span.get("endTimeUnixNano"), "endTimeUnixNano")
    status = span.get("status") or {}
    c["trace_id"].append(_hex_id(span.get("traceId"), 16, "traceId"))
    c["span_id"].append(_hex_id(span.get("spanId"), 8, "spanId"))
    c["parent_span_id"].append(_hex_id(span.get("parentSpanId"), 8, "parentSpanId"))
    c["trace_state"].append(span.get("traceState") or None)
    c["flags"].append(_int(span.get("flags"), "flags"))
    c["name"].append(span.get("name") or "")
    c["kind"].append(_int(span.get("kind"), "kind"))
    c["start_time"].append(start or None)
    c["end_time"].append(end or None)
    c["duration_ns"].append(end - start if start and end else None)
    c["status_code"].append(_int(status.get("code"), "status.code"))
    c["status_message"].append(status.get("message") or None)
    rows.add_attributes(attribute_key(span.get("attributes")))
    c["events"].append([_event(e) for e in _list(span, "events")])
    c["links"].append([_link(link) for link in _list(span, "links")])
    c["dropped_attributes_count"].append(_int(span.get("droppedAttributesCount")))
    c["dropped_events_count"].append(_int(span.get("droppedEventsCount")))
    c["dropped_links_count"].append(_int(span.get("droppedLinksCount")))


def _event(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": _int(event.get("timeUnixNano"), "timeUnixNano") or None,
        "name": event.get("name") or "",
        "attributes": attributes(event.get("attributes")),
    }


def _link(link: dict[str, Any]) -> dict[str, Any]:
    return {
        "trace_id": _hex_id(link.get("traceId"), 16, "traceId"),
        "span_id": _hex_id(link.get("spanId"), 8, "spanId"),
        "trace_state": link.get("traceState") or None,
        "attributes": attributes(link.get("attributes")),
        "flags": _int(link.get("flags"), "flags"),
    }
