"""Decoder for OTLP protobuf: export requests (bytes or messages) into an ExportBatch."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from trellis.collector import otlp_wire
from trellis.collector import rows as r
from trellis.collector.batch import ExportBatch, Signal
from trellis.collector.decode_errors import PayloadError
from trellis.collector.events import project_events
from trellis.collector.otlp_values import any_value, attribute_key, attributes

REQUEST_TYPES: dict[Signal, Any] = {
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
    "traces": ExportTraceServiceRequest,
}

NO_RECORDED_VALUE = 1

_RAW_ATTRIBUTES_OF = {
    "NumberDataPoint",
    "HistogramDataPoint",
    "ExponentialHistogramDataPoint",
    "SummaryDataPoint",
    "LogRecord",
    "Span",
}
"""Messages whose ``attributes`` the decoder reads as raw bytes (see ``_raw_attribute_requests``)."""


def _raw_attribute_requests() -> dict[Signal, Any]:
    """Request types that read the same wire format as REQUEST_TYPES, but the ``attributes``
    of points, log records and spans as raw bytes: one serialized KeyValue each.

    A field of messages and a field of bytes are the same on the wire. Reading
    KeyValue messages field by field costs several microseconds per point in
    Python, while an export repeats a few attribute sets over thousands of
    points: the bytes come in one call, and each distinct set is parsed and
    converted once per request (``AttributeSets.index_raw``).
    """
    pool = descriptor_pool.DescriptorPool()
    modules = [common_pb2, resource_pb2, metrics_pb2, logs_pb2, trace_pb2]  # each after what it imports
    for module in [*modules, metrics_service_pb2, logs_service_pb2, trace_service_pb2]:
        file = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        for message in file.message_type:
            if message.name in _RAW_ATTRIBUTES_OF:
                (field,) = [f for f in message.field if f.name == "attributes"]
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                field.ClearField("type_name")
        pool.Add(file)
    return {
        signal: message_factory.GetMessageClass(pool.FindMessageTypeByName(t.DESCRIPTOR.full_name))
        for signal, t in REQUEST_TYPES.items()
    }


_RAW_REQUEST_TYPES = _raw_attribute_requests()


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
    with r.gc_paused():
        return _decode_bytes(signal, body)


def _decode_bytes(signal: Signal, body: bytes) -> ExportBatch:
    if signal == "metrics":
        batch = otlp_wire.decode_metrics(body)  # without Python work per field, for what it reads
        if batch is not None:
            return batch
    try:
        message = _RAW_REQUEST_TYPES[signal].FromString(body)
    except (DecodeError, ValueError) as exc:
        raise _parse_error(signal, body, exc) from None
    try:
        return _decode(signal, message)
    except DecodeError as exc:  # the bytes of an attribute: the full parse refuses the body
        raise _parse_error(signal, body, exc) from None


def _parse_error(signal: Signal, body: bytes, exc: Exception) -> PayloadError:
    """The error for a body the raw-attribute types refused: the one parsing it with REQUEST_TYPES gives."""
    try:
        parse_request(signal, body)
    except PayloadError as error:
        return error
    return PayloadError(f"the body is not a valid OTLP protobuf {signal} export: {exc}")


def decode_message(signal: Signal, message: Any) -> ExportBatch:
    """Decode an already parsed export request, by its bytes: one decoder reads both."""
    return decode(signal, message.SerializeToString())


def _decode(signal: Signal, message: Any) -> ExportBatch:
    """Decode a request of ``_RAW_REQUEST_TYPES``."""
    try:
        if signal == "metrics":
            return _metrics(message)
        if signal == "logs":
            return project_events(_logs(message))
        return _traces(message)
    except (ValueError, OverflowError) as exc:
        raise PayloadError(f"the body is not a valid OTLP protobuf {signal} export: {exc}") from None


def _raw_attribute_key(raw: tuple[bytes, ...]) -> r.AttributeKey:
    """``attribute_key`` of attributes read as raw bytes; DecodeError if they are no KeyValues."""
    return attribute_key([common_pb2.KeyValue.FromString(kv) for kv in raw])


def _attribute_index(rows: r.TableRows, item: Any) -> int:
    """The index of the attributes of a point, log record or span in ``rows``' attribute sets."""
    return rows.interned["attributes"].index_raw(tuple(item.attributes), _raw_attribute_key)


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
        self.series_keys = r.SeriesKeys()


def _metrics(request: Any) -> ExportBatch:
    tables = _MetricTables()
    for rm in request.resource_metrics:
        resource = _resource(rm)
        for sm in rm.scope_metrics:
            context = resource + _scope(sm)  # one list for all the scope's metrics: encoded once
            for metric in sm.metrics:
                _metric(tables, context, metric)
    return ExportBatch.from_rows("metrics", list(tables.by_type.values()), tables.rejected)


def _metric(tables: _MetricTables, context: list[Any], metric: Any) -> None:
    kind = metric.WhichOneof("data")
    if kind is None:
        tables.rejected.add(f"metric {metric.name!r} has no data")
        return
    name, unit = metric.name, metric.unit
    if kind == "gauge":
        data, temporality, monotonic = metric.gauge, 0, False
    elif kind == "sum":
        data = metric.sum
        temporality, monotonic = data.aggregation_temporality, data.is_monotonic
    else:
        data = getattr(metric, kind)
        temporality, monotonic = getattr(data, "aggregation_temporality", 0), False
    rows = tables.by_type[kind]
    ctx = rows.add_context([name, metric.description or None, unit or None, *context])
    series = r.SeriesIds(rows, tables.series_keys.key(context, name, unit, kind, temporality, monotonic))
    if kind in ("gauge", "sum"):
        _number_points(tables, rows, ctx, series, data, temporality, monotonic, name)
        return
    add_point = _POINT_WRITERS[kind]
    for point in data.data_points:
        attrs = _attribute_index(rows, point)
        problem = add_point(rows.columns, point, temporality, monotonic)
        if problem:
            tables.rejected.add(f"metric {name!r}: {problem}")
            continue
        _common_point(rows, ctx, series, point, attrs)


def _common_point(rows: r.TableRows, ctx: int, series: r.SeriesIds, point: Any, attrs: int) -> None:
    c = rows.columns
    rows.context_of_row.append(ctx)
    c["series_id"].append(series.of(attrs))
    c["start_time"].append(getattr(point, "start_time_unix_nano", 0) or None)
    c["time"].append(point.time_unix_nano or None)
    c["attributes"].append(attrs)
    c["flags"].append(point.flags)
    c["exemplars"].append(_exemplars(point) if hasattr(point, "exemplars") else None)


def _number_points(
    tables: _MetricTables,
    rows: r.TableRows,
    ctx: int,
    series: r.SeriesIds,
    data: Any,
    temporality: int,
    monotonic: bool,
    name: str,
) -> None:
    """Gauge and sum points, the bulk of most exports: ``_number`` and ``_common_point`` in one loop.

    Every protobuf field read and every call costs here, 10,000 times per
    export: the appends are bound once, and the columns that are the same
    for all points of the metric are filled once at the end.
    """
    series_of, attribute_index = series.of, rows.interned["attributes"].index_raw
    add_value, add_int, add_series, add_start, add_time, add_attrs, add_flags, add_exemplars = rows.number_appends()
    count = 0
    for point in data.data_points:
        attrs = attribute_index(tuple(point.attributes), _raw_attribute_key)
        kind = point.WhichOneof("value")
        flags = point.flags
        if kind == "as_double":
            add_value(point.as_double)
            add_int(None)
        elif kind == "as_int":
            exact = point.as_int
            add_value(float(exact))
            add_int(exact)
        elif flags & NO_RECORDED_VALUE:
            add_value(None)
            add_int(None)
        else:
            tables.rejected.add(f"metric {name!r}: a data point has no value")
            continue
        add_series(series_of(attrs))
        add_start(point.start_time_unix_nano or None)
        add_time(point.time_unix_nano or None)
        add_attrs(attrs)
        add_flags(flags)
        add_exemplars(_exemplars(point) if point.exemplars else None)
        count += 1
    rows.context_of_row.extend([ctx] * count)
    c = rows.columns
    if "is_monotonic" in c:
        c["aggregation_temporality"].extend([temporality] * count)
        c["is_monotonic"].extend([monotonic] * count)


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
    text: str = value.string_value
    if text:  # the usual body: a non-empty string
        return text
    if value.WhichOneof("value") is None:
        return None
    return r.attribute_text(any_value(value))


def _logs(request: Any) -> ExportBatch:
    rows = r.signal_rows("otel_logs")
    for rl in request.resource_logs:
        resource = _resource(rl)
        for sl in rl.scope_logs:
            _log_records(rows, rows.add_context(resource + _scope(sl)), sl.log_records)
    return ExportBatch.from_rows("logs", [rows], r.Rejections())


def _log_records(rows: r.TableRows, ctx: int, records: Any) -> None:
    """The records of one scope; appends bound once, as in ``_number_points``."""
    c = rows.columns
    add_time, add_observed = c["time"].append, c["observed_time"].append
    add_severity, add_severity_text = c["severity_number"].append, c["severity_text"].append
    add_body, add_event, add_flags = c["body"].append, c["event_name"].append, c["flags"].append
    add_trace, add_span = c["trace_id"].append, c["span_id"].append
    add_attributes, add_dropped = c["attributes"].append, c["dropped_attributes_count"].append
    attribute_index = rows.interned["attributes"].index_raw
    for rec in records:
        add_time(rec.time_unix_nano or None)
        add_observed(rec.observed_time_unix_nano or None)
        add_severity(rec.severity_number)
        add_severity_text(rec.severity_text or None)
        add_body(_body(rec.body))
        add_event(rec.event_name or None)
        add_trace(rec.trace_id.hex() or None)
        add_span(rec.span_id.hex() or None)
        add_flags(rec.flags)
        add_attributes(attribute_index(tuple(rec.attributes), _raw_attribute_key))
        add_dropped(rec.dropped_attributes_count)
    rows.context_of_row.extend([ctx] * len(records))


def _traces(request: Any) -> ExportBatch:
    rows = r.signal_rows("otel_traces")
    for rs in request.resource_spans:
        resource = _resource(rs)
        for ss in rs.scope_spans:
            ctx = rows.add_context(resource + _scope(ss))
            for span in ss.spans:
                rows.context_of_row.append(ctx)
                _span(rows, span)
    return ExportBatch.from_rows("traces", [rows], r.Rejections())


def _span(rows: r.TableRows, span: Any) -> None:
    c = rows.columns
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
    c["attributes"].append(_attribute_index(rows, span))
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
