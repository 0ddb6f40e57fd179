"""Decoder for OTLP protobuf: export requests (bytes or messages) into an ExportBatch."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector import rows as r
from collector.batch import ExportBatch, Signal
from collector.decode_errors import PayloadError
from collector.events import project_events

REQUEST_TYPES: dict[Signal, Any] = {
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
    "traces": ExportTraceServiceRequest,
}

NO_RECORDED_VALUE = 1


def parse_request(signal: Signal, body: bytes) -> Any:
    """Parse protobuf bytes into the export request message of the signal."""
    message = REQUEST_TYPES[signal]()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError) as exc:
        raise PayloadError(f"the body is not a valid OTLP protobuf {signal} export: {exc}") from None
    return message


def decode(signal: Signal, body: bytes) -> ExportBatch:
    """Decode protobuf bytes of an OTLP export."""
    return decode_message(signal, parse_request(signal, body))


def decode_message(signal: Signal, message: Any) -> ExportBatch:
    """Decode an already parsed export request (the gRPC receiver's case)."""
    try:
        if signal == "metrics":
            return _metrics(message)
        if signal == "logs":
            return project_events(_logs(message))
        return _traces(message)
    except (ValueError, OverflowError) as exc:
        raise PayloadError(f"the body is not a valid OTLP protobuf {signal} export: {exc}") from None


def any_value(value: Any) -> Any:
    """The Python value of an OTLP AnyValue."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        import base64

        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def attributes(kvs: Any) -> r.Attributes:
    text = r.attribute_text
    return [(kv.key, text(any_value(kv.value))) for kv in kvs]


def _resource(resource_items: Any) -> list[Any]:
    return r.resource_context(attributes(resource_items.resource.attributes), resource_items.schema_url)


def _scope(scope_items: Any) -> list[Any]:
    scope = scope_items.scope
    return r.scope_context(scope.name, scope.version, attributes(scope.attributes), scope_items.schema_url)


def _exemplars(point: Any) -> str | None:
    if not point.exemplars:
        return None
    out = []
    for e in point.exemplars:
        kind = e.WhichOneof("value")
        out.append(
            {
                "time_unix_nano": e.time_unix_nano,
                "value": getattr(e, kind) if kind else None,
                "trace_id": e.trace_id.hex() or None,
                "span_id": e.span_id.hex() or None,
                "filtered_attributes": dict(attributes(e.filtered_attributes)),
            }
        )
    return r.attribute_text(out)


class _MetricTables:
    def __init__(self) -> None:
        self.by_type = {
            "gauge": r.metric_rows("otel_metrics_gauge"),
            "sum": r.metric_rows("otel_metrics_sum"),
            "histogram": r.metric_rows("otel_metrics_histogram"),
            "exponential_histogram": r.metric_rows("otel_metrics_exponential_histogram"),
            "summary": r.metric_rows("otel_metrics_summary"),
        }
        self.rejected = r.Rejections()


def _metrics(request: Any) -> ExportBatch:
    tables = _MetricTables()
    for rm in request.resource_metrics:
        resource = _resource(rm)
        for sm in rm.scope_metrics:
            scope = _scope(sm)
            for metric in sm.metrics:
                _metric(tables, resource + scope, metric)
    return ExportBatch.from_rows("metrics", list(tables.by_type.values()), tables.rejected)


def _metric(tables: _MetricTables, context: list[Any], metric: Any) -> None:
    kind = metric.WhichOneof("data")
    if kind is None:
        tables.rejected.add(f"metric {metric.name!r} has no data")
        return
    data = getattr(metric, kind)
    rows = tables.by_type[kind]
    temporality = getattr(data, "aggregation_temporality", 0)
    monotonic = getattr(data, "is_monotonic", False)
    ctx = rows.add_context([metric.name, metric.description or None, metric.unit or None, *context])
    key = r.series_key(context, metric.name, metric.unit, kind, temporality, monotonic)
    add_point = _POINT_WRITERS[kind]
    for point in data.data_points:
        attrs = attributes(point.attributes)
        problem = add_point(rows.columns, point, temporality, monotonic)
        if problem:
            tables.rejected.add(f"metric {metric.name!r}: {problem}")
            continue
        _common_point(rows, ctx, key, point, attrs)


def _common_point(rows: r.TableRows, ctx: int, key: bytes, point: Any, attrs: r.Attributes) -> None:
    c = rows.columns
    rows.context_of_row.append(ctx)
    c["series_id"].append(r.series_id(key, attrs))
    c["start_time"].append(getattr(point, "start_time_unix_nano", 0) or None)
    c["time"].append(point.time_unix_nano or None)
    c["attributes"].append(attrs)
    c["flags"].append(point.flags)
    c["exemplars"].append(_exemplars(point) if hasattr(point, "exemplars") else None)


def _number(c: dict[str, list[Any]], point: Any, temporality: int, monotonic: bool) -> str | None:
    kind = point.WhichOneof("value")
    if kind == "as_int":
        c["value"].append(float(point.as_int))
        c["int_value"].append(point.as_int)
    elif kind == "as_double":
        c["value"].append(point.as_double)
        c["int_value"].append(None)
    elif point.flags & NO_RECORDED_VALUE:
        c["value"].append(None)
        c["int_value"].append(None)
    else:
        return "a data point has no value"
    if "is_monotonic" in c:
        c["aggregation_temporality"].append(temporality)
        c["is_monotonic"].append(monotonic)
    return None


def _optional(point: Any, name: str) -> float | None:
    return getattr(point, name) if point.HasField(name) else None


def _histogram(c: dict[str, list[Any]], point: Any, temporality: int, monotonic: bool) -> str | None:
    counts, bounds = list(point.bucket_counts), list(point.explicit_bounds)
    if counts and len(counts) != len(bounds) + 1:
        return f"a histogram point has {len(counts)} bucket counts for {len(bounds)} bounds"
    c["aggregation_temporality"].append(temporality)
    c["count"].append(point.count)
    c["sum"].append(_optional(point, "sum"))
    c["min"].append(_optional(point, "min"))
    c["max"].append(_optional(point, "max"))
    c["bucket_counts"].append(counts)
    c["explicit_bounds"].append(bounds)
    return None


def _exponential(c: dict[str, list[Any]], point: Any, temporality: int, monotonic: bool) -> str | None:
    c["aggregation_temporality"].append(temporality)
    c["count"].append(point.count)
    c["sum"].append(_optional(point, "sum"))
    c["min"].append(_optional(point, "min"))
    c["max"].append(_optional(point, "max"))
    c["scale"].append(point.scale)
    c["zero_count"].append(point.zero_count)
    c["zero_threshold"].append(point.zero_threshold)
    c["positive_offset"].append(point.positive.offset)
    c["positive_bucket_counts"].append(list(point.positive.bucket_counts))
    c["negative_offset"].append(point.negative.offset)
    c["negative_bucket_counts"].append(list(point.negative.bucket_counts))
    return None


def _summary(c: dict[str, list[Any]], point: Any, temporality: int, monotonic: bool) -> str | None:
    c["count"].append(point.count)
    c["sum"].append(point.sum)
    c["quantile_values"].append([{"quantile": q.quantile, "value": q.value} for q in point.quantile_values])
    return None


_POINT_WRITERS = {
    "gauge": _number,
    "sum": _number,
    "histogram": _histogram,
    "exponential_histogram": _exponential,
    "summary": _summary,
}


def _body(value: Any) -> str | None:
    if value.WhichOneof("value") is None:
        return None
    return r.attribute_text(any_value(value))


def _logs(request: Any) -> ExportBatch:
    rows = r.signal_rows("otel_logs")
    c = rows.columns
    for rl in request.resource_logs:
        resource = _resource(rl)
        for sl in rl.scope_logs:
            ctx = rows.add_context(resource + _scope(sl))
            for rec in sl.log_records:
                rows.context_of_row.append(ctx)
                c["time"].append(rec.time_unix_nano or None)
                c["observed_time"].append(rec.observed_time_unix_nano or None)
                c["severity_number"].append(rec.severity_number)
                c["severity_text"].append(rec.severity_text or None)
                c["body"].append(_body(rec.body))
                c["event_name"].append(rec.event_name or None)
                c["trace_id"].append(rec.trace_id.hex() or None)
                c["span_id"].append(rec.span_id.hex() or None)
                c["flags"].append(rec.flags)
                c["attributes"].append(attributes(rec.attributes))
                c["dropped_attributes_count"].append(rec.dropped_attributes_count)
    return ExportBatch.from_rows("logs", [rows], r.Rejections())


def _traces(request: Any) -> ExportBatch:
    rows = r.signal_rows("otel_traces")
    for rs in request.resource_spans:
        resource = _resource(rs)
        for ss in rs.scope_spans:
            ctx = rows.add_context(resource + _scope(ss))
            for span in ss.spans:
                rows.context_of_row.append(ctx)
                _span(rows.columns, span)
    return ExportBatch.from_rows("traces", [rows], r.Rejections())


def _span(c: dict[str, list[Any]], span: Any) -> None:
    c["trace_id"].append(span.trace_id.hex() or None)
    c["span_id"].append(span.span_id.hex() or None)
    c["parent_span_id"].append(span.parent_span_id.hex() or None)
    c["trace_state"].append(span.trace_state or None)
    c["flags"].append(span.flags)
    c["name"].append(span.name)
    c["kind"].append(span.kind)
    c["start_time"].append(span.start_time_unix_nano or None)
    c["end_time"].append(span.end_time_unix_nano or None)
    c["duration_ns"].append(_duration(span.start_time_unix_nano, span.end_time_unix_nano))
    c["status_code"].append(span.status.code)
    c["status_message"].append(span.status.message or None)
    c["attributes"].append(attributes(span.attributes))
    c["events"].append(
        [
            {"time": e.time_unix_nano or None, "name": e.name, "attributes": attributes(e.attributes)}
            for e in span.events
        ]
    )
    c["links"].append([_link(link) for link in span.links])
    c["dropped_attributes_count"].append(span.dropped_attributes_count)
    c["dropped_events_count"].append(span.dropped_events_count)
    c["dropped_links_count"].append(span.dropped_links_count)


def _duration(start: int, end: int) -> int | None:
    return end - start if start and end else None


def _link(link: Any) -> dict[str, Any]:
    return {
        "trace_id": link.trace_id.hex() or None,
        "span_id": link.span_id.hex() or None,
        "trace_state": link.trace_state or None,
        "attributes": attributes(link.attributes),
        "flags": link.flags,
    }
