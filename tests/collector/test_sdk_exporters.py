"""The OpenTelemetry Python SDK's own OTLP exporters (HTTP and gRPC) sending to a running collector."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from tests.collector.otlp_payloads import query, stored_rows, unique
from trellis.collector.client import Client
from trellis.testing import RunningCollector

pytestmark = pytest.mark.slow

T0 = 1_700_000_000_123_456_789
"""An explicit timestamp that is not a whole microsecond, to catch any rounding."""

TRANSPORTS = ["http", "http-gzip", "grpc", "grpc-gzip"]
CUMULATIVE, DELTA = 2, 1


def _exporter(kind: str, transport: str, collector: RunningCollector, **kwargs: Any) -> Any:
    gzip = transport.endswith("-gzip")
    if transport.startswith("http"):
        http = {"metrics": HttpMetricExporter, "logs": HttpLogExporter, "traces": HttpSpanExporter}[kind]
        compression = HttpCompression.Gzip if gzip else HttpCompression.NoCompression
        return http(endpoint=f"{collector.otlp_http}/v1/{kind}", timeout=10, compression=compression, **kwargs)
    rpc = {"metrics": GrpcMetricExporter, "logs": GrpcLogExporter, "traces": GrpcSpanExporter}[kind]
    compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
    return rpc(endpoint=collector.otlp_grpc, insecure=True, timeout=10, compression=compression, **kwargs)


def _resource(service: str) -> Resource:
    return Resource.create({"service.name": service, "service.version": "9.9.9", "deployment.environment.name": "ci"})


def _stored_resource(resource: Resource) -> dict[str, str]:
    """The resource map the collector must keep: every attribute, non-strings JSON-encoded."""
    return {k: v if isinstance(v, str) else str(v).lower() for k, v in resource.attributes.items()}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_metrics_of_every_instrument_kind_arrive_exactly(collector: RunningCollector, transport: str) -> None:
    service = unique(f"sdk-metrics-{transport}")
    resource = _resource(service)
    exporter = _exporter("metrics", transport, collector, preferred_temporality={Histogram: DELTA})
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
    meter = provider.get_meter("tests.sdk.metrics", "0.1")

    def temperature(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(21.5, {"room": "a"}), Observation(-3, {"room": "b"})]

    before = time.time_ns()
    try:
        requests = meter.create_counter("sdk.requests", unit="{request}", description="Requests served")
        requests.add(3, {"route": "/a", "cached": True})
        requests.add(4, {"route": "/a", "cached": True})
        requests.add(2, {"route": "/b", "cached": False})
        depth = meter.create_up_down_counter("sdk.queue.depth", unit="{item}", description="Items waiting")
        depth.add(5)
        depth.add(-7)
        latency = meter.create_histogram("sdk.latency", unit="ms", explicit_bucket_boundaries_advisory=[10, 100])
        for value in (5, 7, 50, 500.5):
            latency.record(value, {"op": "get"})
        meter.create_observable_gauge("sdk.temperature", callbacks=[temperature], unit="Cel", description="Room")

        assert provider.force_flush(10_000)
        after = time.time_ns()

        sums = stored_rows(
            collector.api,
            "otel_metrics_sum",
            service,
            [
                "metric_name",
                "metric_unit",
                "metric_description",
                "attributes",
                "value",
                "int_value",
                "aggregation_temporality",
                "is_monotonic",
                "scope_name",
                "scope_version",
                "resource_attributes",
            ],
        )
        assert sorted(sums, key=lambda r: (r["metric_name"], r["value"])) == [
            {
                "metric_name": "sdk.queue.depth",
                "metric_unit": "{item}",
                "metric_description": "Items waiting",
                "attributes": {},
                "value": -2.0,
                "int_value": -2,
                "aggregation_temporality": CUMULATIVE,
                "is_monotonic": False,
                "scope_name": "tests.sdk.metrics",
                "scope_version": "0.1",
                "resource_attributes": _stored_resource(resource),
            },
            *(
                {
                    "metric_name": "sdk.requests",
                    "metric_unit": "{request}",
                    "metric_description": "Requests served",
                    "attributes": {"route": route, "cached": cached},
                    "value": float(total),
                    "int_value": total,
                    "aggregation_temporality": CUMULATIVE,
                    "is_monotonic": True,
                    "scope_name": "tests.sdk.metrics",
                    "scope_version": "0.1",
                    "resource_attributes": _stored_resource(resource),
                }
                for route, cached, total in (("/b", "false", 2), ("/a", "true", 7))
            ),
        ]

        histograms = stored_rows(
            collector.api,
            "otel_metrics_histogram",
            service,
            [
                "metric_name",
                "metric_unit",
                "attributes",
                "aggregation_temporality",
                "count",
                "sum",
                "min",
                "max",
                "bucket_counts",
                "explicit_bounds",
            ],
        )
        assert histograms == [
            {
                "metric_name": "sdk.latency",
                "metric_unit": "ms",
                "attributes": {"op": "get"},
                "aggregation_temporality": DELTA,
                "count": 4,
                "sum": 562.5,
                "min": 5.0,
                "max": 500.5,
                "bucket_counts": [2, 1, 1],
                "explicit_bounds": [10.0, 100.0],
            }
        ]

        gauges = stored_rows(
            collector.api,
            "otel_metrics_gauge",
            service,
            ["metric_name", "metric_unit", "metric_description", "attributes", "value", "int_value"],
        )
        assert sorted(gauges, key=lambda r: r["value"]) == [
            {
                "metric_name": "sdk.temperature",
                "metric_unit": "Cel",
                "metric_description": "Room",
                "attributes": {"room": "b"},
                "value": -3.0,
                "int_value": -3,
            },
            {
                "metric_name": "sdk.temperature",
                "metric_unit": "Cel",
                "metric_description": "Room",
                "attributes": {"room": "a"},
                "value": 21.5,
                "int_value": None,
            },
        ]

        for table in ("otel_metrics_sum", "otel_metrics_histogram", "otel_metrics_gauge"):
            times = stored_rows(collector.api, table, service, ["start_time_ns", "time_ns"])
            for row in times:
                assert before <= row["time_ns"] <= after
                assert row["start_time_ns"] is None or before <= row["start_time_ns"] <= row["time_ns"]
    finally:
        provider.shutdown()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_log_records_arrive_with_exact_bodies_and_timestamps(collector: RunningCollector, transport: str) -> None:
    service = unique(f"sdk-logs-{transport}")
    resource = _resource(service)
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(_exporter("logs", transport, collector)))
    logger = provider.get_logger("tests.sdk.logs", "0.2")
    parent = SpanContext(0x5B8EFFF798038103D269B633813FC60C, 0xEEE19B7EC3C1B174, False, TraceFlags(TraceFlags.SAMPLED))
    in_span = trace.set_span_in_context(NonRecordingSpan(parent))
    try:
        logger.emit(
            timestamp=T0,
            observed_timestamp=T0 + 1,
            context=in_span,
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body="disk almost full",
            attributes={"disk": "/dev/sda", "free.pct": 4.5, "retries": 3, "ok": False, "tags": ["a", "b"]},
        )
        logger.emit(
            timestamp=T0 + 2,
            observed_timestamp=T0 + 3,
            severity_number=SeverityNumber.INFO,
            body={"kind": "structured", "n": 1, "list": [1.5, "x"]},
            event_name="tests.sdk.event",
        )
        assert provider.force_flush(10_000)

        rows = stored_rows(
            collector.api,
            "otel_logs",
            service,
            [
                "time_ns",
                "observed_time_ns",
                "severity_number",
                "severity_text",
                "body",
                "event_name",
                "trace_id",
                "span_id",
                "flags",
                "attributes",
                "scope_name",
                "scope_version",
                "resource_attributes",
            ],
        )
    finally:
        provider.shutdown()

    common = {"scope_name": "tests.sdk.logs", "scope_version": "0.2", "resource_attributes": _stored_resource(resource)}
    assert sorted(rows, key=lambda r: r["time_ns"]) == [
        {
            **common,
            "time_ns": T0,
            "observed_time_ns": T0 + 1,
            "severity_number": 13,
            "severity_text": "WARN",
            "body": "disk almost full",
            "event_name": None,
            "trace_id": "5b8efff798038103d269b633813fc60c",
            "span_id": "eee19b7ec3c1b174",
            "flags": 1,
            "attributes": {"disk": "/dev/sda", "free.pct": "4.5", "retries": "3", "ok": "false", "tags": '["a","b"]'},
        },
        {
            **common,
            "time_ns": T0 + 2,
            "observed_time_ns": T0 + 3,
            "severity_number": 9,
            "severity_text": None,
            "body": '{"kind":"structured","n":1,"list":[1.5,"x"]}',
            "event_name": "tests.sdk.event",
            "trace_id": None,
            "span_id": None,
            "flags": 0,
            "attributes": {},
        },
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_spans_arrive_with_exact_ids_parents_and_times(collector: RunningCollector, transport: str) -> None:
    service = unique(f"sdk-traces-{transport}")
    resource = _resource(service)
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(_exporter("traces", transport, collector)))
    tracer = provider.get_tracer("tests.sdk.traces", "0.3")
    try:
        server = tracer.start_span(
            "GET /items", kind=SpanKind.SERVER, start_time=T0, attributes={"http.response.status_code": 200}
        )
        client = tracer.start_span(
            "SELECT items",
            context=trace.set_span_in_context(server),
            kind=SpanKind.CLIENT,
            start_time=T0 + 1_000,
            attributes={"db.system": "duckdb"},
        )
        client.add_event("rows", {"count": 3}, timestamp=T0 + 1_500)
        client.set_status(Status(StatusCode.ERROR, "timed out"))
        client.end(end_time=T0 + 2_001)
        server.end(end_time=T0 + 5_000)
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()

    server_ctx, client_ctx = server.get_span_context(), client.get_span_context()
    trace_id = format(server_ctx.trace_id, "032x")
    with Client(collector.api) as reader:
        table = reader.arrow(
            "SELECT name, kind, trace_id, span_id, parent_span_id, start_time, end_time, duration_ns, "
            "status_code, status_message, attributes, events, scope_name, scope_version, resource_attributes "
            f"FROM otel_traces WHERE service_name = '{service}' ORDER BY start_time"
        )
    assert table["start_time"].type.unit == "ns"
    server_row, client_row = table.drop_columns(["start_time", "end_time", "events"]).to_pylist(
        maps_as_pydicts="strict"
    )
    common = {
        "scope_name": "tests.sdk.traces",
        "scope_version": "0.3",
        "resource_attributes": _stored_resource(resource),
    }
    assert server_row == {
        **common,
        "name": "GET /items",
        "kind": 2,
        "trace_id": trace_id,
        "span_id": format(server_ctx.span_id, "016x"),
        "parent_span_id": None,
        "duration_ns": 5_000,
        "status_code": 0,
        "status_message": None,
        "attributes": {"http.response.status_code": "200"},
    }
    assert client_row == {
        **common,
        "name": "SELECT items",
        "kind": 3,
        "trace_id": trace_id,
        "span_id": format(client_ctx.span_id, "016x"),
        "parent_span_id": format(server_ctx.span_id, "016x"),
        "duration_ns": 1_001,
        "status_code": 2,
        "status_message": "timed out",
        "attributes": {"db.system": "duckdb"},
    }
    assert [t.value for t in table["start_time"]] == [T0, T0 + 1_000]
    assert [t.value for t in table["end_time"]] == [T0 + 5_000, T0 + 2_001]
    events = table["events"].combine_chunks()
    assert events.value_lengths().to_pylist() == [0, 1]
    flat = events.flatten()
    assert flat.field("name").to_pylist() == ["rows"]
    assert flat.field("time")[0].value == T0 + 1_500
    assert flat.field("attributes").to_pylist(maps_as_pydicts="strict") == [{"count": "3"}]
    assert query(collector.api, f"SELECT count(*) AS n FROM otel_traces WHERE service_name = '{service}'") == [{"n": 2}]
