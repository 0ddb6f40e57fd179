"""The OTLP protobuf decoder, and that it reads the same content exactly as the JSON decoder does."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.collector.otlp_payloads import (
    EXPECTED_ROWS,
    decoded_rows,
    example_dict,
    example_message,
    example_protobuf,
    example_signal,
    expected_decoded_rows,
    logs_request,
    metrics_request,
    spans_request,
    to_protobuf,
    without_series_id,
)
from tests.conftest import EXAMPLE_SIGNALS
from trellis.collector import otlp_json, otlp_proto
from trellis.collector.batch import ExportBatch
from trellis.collector.decode_errors import PayloadError

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
T0 = 1_700_000_000_000_000_000


def decode(signal: str, data: dict[str, Any]) -> ExportBatch:
    return otlp_proto.decode(signal, to_protobuf(signal, data))  # type: ignore[arg-type]


def rows(batch: ExportBatch, table: str) -> list[dict[str, Any]]:
    return decoded_rows(batch.rows(table))


@pytest.mark.parametrize("name", EXAMPLE_SIGNALS)
def test_official_example_decodes_completely(name: str) -> None:
    batch = otlp_proto.decode(example_signal(name), example_protobuf(name))

    assert set(batch.tables) == set(EXPECTED_ROWS[name])
    for table in batch.tables:
        assert without_series_id(rows(batch, table)) == expected_decoded_rows(name, table)
    assert batch.accepted == sum(len(r) for r in EXPECTED_ROWS[name].values())
    assert batch.rejected.count == 0


@pytest.mark.parametrize("name", EXAMPLE_SIGNALS)
def test_an_already_parsed_message_decodes_like_its_bytes(name: str) -> None:
    signal = example_signal(name)
    from_message = otlp_proto.decode_message(signal, example_message(name))
    from_bytes = otlp_proto.decode(signal, example_protobuf(name))

    assert from_message.tables == from_bytes.tables


_ATTRS = [
    {"key": "s", "value": {"stringValue": "x"}},
    {"key": "i", "value": {"intValue": "-7"}},
    {"key": "d", "value": {"doubleValue": 2.5}},
    {"key": "b", "value": {"boolValue": True}},
    {"key": "bytes", "value": {"bytesValue": "AAEC/w=="}},
    {"key": "arr", "value": {"arrayValue": {"values": [{"intValue": "1"}, {"kvlistValue": {"values": []}}]}}},
    {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1}}]}}},
    {"key": "empty", "value": {}},
]
_EXEMPLAR = {
    "timeUnixNano": str(T0),
    "asDouble": 0.5,
    "traceId": TRACE_ID.upper(),
    "spanId": SPAN_ID,
    "filteredAttributes": _ATTRS[:2],
}
_RESOURCE = {
    "attributes": [
        {"key": "service.name", "value": {"stringValue": "rich"}},
        {"key": "service.namespace", "value": {"stringValue": "team"}},
        {"key": "service.version", "value": {"stringValue": "1.2.3"}},
        {"key": "deployment.environment.name", "value": {"stringValue": "prod"}},
        {"key": "k8s.namespace.name", "value": {"stringValue": "ns"}},
        {"key": "k8s.pod.name", "value": {"stringValue": "pod-1"}},
        {"key": "k8s.container.name", "value": {"stringValue": "app"}},
        {"key": "host.name", "value": {"stringValue": "node-1"}},
    ]
}
RICH_METRICS: dict[str, Any] = {
    "resourceMetrics": [
        {
            "resource": _RESOURCE,
            "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
            "scopeMetrics": [
                {
                    "scope": {"name": "rich", "version": "2", "attributes": _ATTRS},
                    "schemaUrl": "https://example.com/scope",
                    "metrics": [
                        {
                            "name": "g",
                            "description": "a gauge",
                            "unit": "By",
                            "gauge": {
                                "dataPoints": [
                                    {"asInt": str(2**62 + 1), "timeUnixNano": str(T0), "attributes": _ATTRS},
                                    {"asDouble": 1.25, "timeUnixNano": str(T0 + 1), "exemplars": [_EXEMPLAR]},
                                    {"flags": 1, "timeUnixNano": str(T0 + 2)},
                                    {"timeUnixNano": str(T0 + 3)},
                                ]
                            },
                        },
                        {
                            "name": "s",
                            "sum": {
                                "aggregationTemporality": 2,
                                "isMonotonic": True,
                                "dataPoints": [{"asInt": "-3", "startTimeUnixNano": str(T0), "flags": 0}],
                            },
                        },
                        {
                            "name": "h",
                            "histogram": {
                                "aggregationTemporality": 1,
                                "dataPoints": [
                                    {"count": "6", "bucketCounts": ["1", "2", "3"], "explicitBounds": [0.5, 10]},
                                    {"count": "0", "sum": 0, "bucketCounts": [], "explicitBounds": []},
                                ],
                            },
                        },
                        {
                            "name": "e",
                            "exponentialHistogram": {
                                "aggregationTemporality": 2,
                                "dataPoints": [
                                    {
                                        "count": "9",
                                        "scale": -2,
                                        "zeroCount": "1",
                                        "zeroThreshold": 0.001,
                                        "positive": {"offset": -3, "bucketCounts": ["1", "2"]},
                                        "negative": {"offset": 4, "bucketCounts": ["5"]},
                                    }
                                ],
                            },
                        },
                        {
                            "name": "q",
                            "summary": {
                                "dataPoints": [
                                    {
                                        "count": "4",
                                        "sum": 10.5,
                                        "quantileValues": [{"quantile": 0.5, "value": 2}, {"quantile": 1, "value": 7}],
                                    }
                                ]
                            },
                        },
                    ],
                }
            ],
        }
    ]
}
RICH_TRACES = spans_request(
    [
        {
            "traceId": TRACE_ID,
            "spanId": SPAN_ID,
            "traceState": "a=b",
            "flags": 257,
            "name": "rich span",
            "kind": 3,
            "startTimeUnixNano": str(T0),
            "endTimeUnixNano": str(T0 + 1234),
            "status": {"code": 2, "message": "boom"},
            "attributes": _ATTRS,
            "events": [{"timeUnixNano": str(T0 + 5), "name": "exception", "attributes": _ATTRS[:3]}, {"name": "e2"}],
            "links": [{"traceId": TRACE_ID, "spanId": SPAN_ID, "traceState": "c=d", "flags": 1, "attributes": _ATTRS}],
            "droppedAttributesCount": 1,
            "droppedEventsCount": 2,
            "droppedLinksCount": 3,
        },
        {"name": "no ids, no times"},
    ]
)
RICH_LOGS = logs_request(
    [
        {"timeUnixNano": str(T0), "body": {"bytesValue": "AAEC"}, "flags": 1, "droppedAttributesCount": 4},
        {
            "observedTimeUnixNano": str(T0),
            "body": {"arrayValue": {"values": [{"intValue": "1"}]}},
            "attributes": _ATTRS,
        },
        {"eventName": "trellis.deployment", "attributes": [{"key": "deployment.id", "value": {"stringValue": "d1"}}]},
        {"severityNumber": 17, "severityText": "ERROR", "traceId": TRACE_ID, "spanId": SPAN_ID},
    ]
)


@pytest.mark.parametrize(
    ("signal", "data"),
    [
        *((example_signal(name), example_dict(name)) for name in EXAMPLE_SIGNALS),
        ("metrics", RICH_METRICS),
        ("traces", RICH_TRACES),
        ("logs", RICH_LOGS),
    ],
    ids=[*EXAMPLE_SIGNALS, "rich-metrics", "rich-traces", "rich-logs"],
)
def test_json_and_protobuf_decoders_give_identical_tables(signal: str, data: dict[str, Any]) -> None:
    from_json = otlp_json.decode(signal, json.dumps(data).encode())  # type: ignore[arg-type]
    from_protobuf = decode(signal, data)

    assert from_json.tables, "the payload decoded to nothing"
    assert list(from_json.tables) == list(from_protobuf.tables)
    for table, expected in from_json.tables.items():
        assert from_protobuf.tables[table].equals(expected), table
    assert from_protobuf.resources.equals(from_json.resources)
    assert from_json.accepted == from_protobuf.accepted
    assert (from_json.rejected.count, from_json.rejected.message) == (
        from_protobuf.rejected.count,
        from_protobuf.rejected.message,
    )
    assert from_json.projections.keys() == from_protobuf.projections.keys()


def test_rich_metrics_are_decoded_completely() -> None:
    batch = decode("metrics", RICH_METRICS)

    gauge = rows(batch, "otel_metrics_gauge")
    assert [(r["value"], r["int_value"], r["flags"]) for r in gauge] == [
        (float(2**62 + 1), 2**62 + 1, 0),
        (1.25, None, 0),
        (None, None, 1),
    ]
    first = gauge[0]
    assert (first["metric_name"], first["metric_description"], first["metric_unit"]) == ("g", "a gauge", "By")
    assert (first["service_name"], first["service_namespace"], first["service_version"]) == ("rich", "team", "1.2.3")
    assert (first["deployment_environment_name"], first["k8s_namespace_name"]) == ("prod", "ns")
    assert (first["k8s_pod_name"], first["k8s_container_name"], first["host_name"]) == ("pod-1", "app", "node-1")
    assert first["resource_schema_url"] == "https://opentelemetry.io/schemas/1.26.0"
    assert first["scope_schema_url"] == "https://example.com/scope"
    assert first["attributes"] == {
        "s": "x",
        "i": "-7",
        "d": "2.5",
        "b": "true",
        "bytes": "AAEC/w==",
        "arr": "[1,{}]",
        "kv": '{"k":1.0}',
        "empty": "null",
    }
    assert first["scope_attributes"] == first["attributes"]
    assert json.loads(gauge[1]["exemplars"]) == [
        {
            "time_unix_nano": T0,
            "value": 0.5,
            "trace_id": TRACE_ID,
            "span_id": SPAN_ID,
            "filtered_attributes": {"s": "x", "i": "-7"},
        }
    ]
    assert (batch.rejected.count, batch.rejected.message) == (1, "metric 'g': a data point has no value")

    (total,) = rows(batch, "otel_metrics_sum")
    assert (total["int_value"], total["aggregation_temporality"], total["is_monotonic"]) == (-3, 2, True)
    assert total["start_time_ns"] == T0

    histograms = rows(batch, "otel_metrics_histogram")
    assert [(h["count"], h["bucket_counts"], h["explicit_bounds"], h["sum"]) for h in histograms] == [
        (6, [1, 2, 3], [0.5, 10.0], None),
        (0, [], [], 0.0),
    ]

    (exp,) = rows(batch, "otel_metrics_exponential_histogram")
    assert (exp["count"], exp["scale"], exp["zero_count"], exp["zero_threshold"]) == (9, -2, 1, 0.001)
    assert (exp["positive_offset"], exp["positive_bucket_counts"]) == (-3, [1, 2])
    assert (exp["negative_offset"], exp["negative_bucket_counts"]) == (4, [5])
    assert (exp["sum"], exp["min"], exp["max"]) == (None, None, None)

    (summary,) = rows(batch, "otel_metrics_summary")
    assert (summary["count"], summary["sum"]) == (4, 10.5)
    assert summary["quantile_values"] == [{"quantile": 0.5, "value": 2.0}, {"quantile": 1.0, "value": 7.0}]


def test_rich_spans_are_decoded_completely() -> None:
    table = decode("traces", RICH_TRACES).rows("otel_traces")
    span, bare = decoded_rows(table.drop_columns(["events"]))
    events = table["events"].combine_chunks().flatten()

    assert (span["trace_id"], span["span_id"], span["parent_span_id"]) == (TRACE_ID, SPAN_ID, None)
    assert (span["name"], span["kind"], span["flags"], span["trace_state"]) == ("rich span", 3, 257, "a=b")
    assert (span["start_time_ns"], span["end_time_ns"], span["duration_ns"]) == (T0, T0 + 1234, 1234)
    assert (span["status_code"], span["status_message"]) == (2, "boom")
    assert table["events"].combine_chunks().value_lengths().to_pylist() == [2, 0]
    assert events.field("name").to_pylist() == ["exception", "e2"]
    assert events.field("time").cast(pa.int64()).to_pylist() == [T0 + 5, None]
    assert events.field("attributes").to_pylist(maps_as_pydicts="strict") == [{"s": "x", "i": "-7", "d": "2.5"}, {}]
    (link,) = span["links"]
    assert (link["trace_id"], link["span_id"], link["trace_state"], link["flags"]) == (TRACE_ID, SPAN_ID, "c=d", 1)
    assert (span["dropped_attributes_count"], span["dropped_events_count"], span["dropped_links_count"]) == (1, 2, 3)
    assert (bare["trace_id"], bare["span_id"], bare["start_time_ns"], bare["duration_ns"]) == (None, None, None, None)


def test_log_bodies_of_any_type_and_event_projection() -> None:
    batch = decode("logs", RICH_LOGS)
    logs = rows(batch, "otel_logs")

    assert [r["body"] for r in logs] == ["AAEC", "[1]", None, None]
    assert [(r["severity_number"], r["severity_text"]) for r in logs] == [
        (0, None),
        (0, None),
        (0, None),
        (17, "ERROR"),
    ]
    assert [r["event_name"] for r in logs] == [None, None, "trellis.deployment", None]
    assert (logs[3]["trace_id"], logs[3]["span_id"]) == (TRACE_ID, SPAN_ID)
    assert (logs[0]["flags"], logs[0]["dropped_attributes_count"], logs[0]["time_ns"]) == (1, 4, T0)
    assert (logs[1]["time_ns"], logs[1]["observed_time_ns"]) == (None, T0)
    assert batch.projection_rejected.count == 1
    assert "attribute 'deployment.status' is required" in batch.projection_rejected.message


def test_int_points_keep_their_exact_value() -> None:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="exact")
    for value in (2**62 + 1, 2**63 - 1, -(2**63)):
        metric.gauge.data_points.add(as_int=value)

    batch = otlp_proto.decode("metrics", request.SerializeToString())

    assert [r["int_value"] for r in rows(batch, "otel_metrics_gauge")] == [2**62 + 1, 2**63 - 1, -(2**63)]


def test_a_point_without_value_is_rejected_and_a_no_recorded_value_point_kept() -> None:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    metric.sum.aggregation_temporality = 2
    metric.sum.data_points.add(as_double=1.0, time_unix_nano=1)
    metric.sum.data_points.add(time_unix_nano=2)
    metric.sum.data_points.add(flags=1, time_unix_nano=3)

    batch = otlp_proto.decode("metrics", request.SerializeToString())

    kept = rows(batch, "otel_metrics_sum")
    assert [(r["time_ns"], r["value"], r["flags"]) for r in kept] == [(1, 1.0, 0), (3, None, 1)]
    assert (batch.accepted, batch.rejected.count) == (2, 1)
    assert batch.rejected.message == "metric 'm': a data point has no value"


def test_zero_timestamps_are_stored_as_null() -> None:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    metric.gauge.data_points.add(as_double=1.0)

    (row,) = rows(otlp_proto.decode("metrics", request.SerializeToString()), "otel_metrics_gauge")

    assert (row["time_ns"], row["start_time_ns"]) == (None, None)


def test_binary_ids_are_stored_as_lower_case_hex() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="s")
    span.trace_id, span.span_id, span.parent_span_id = (
        bytes(range(16)),
        b"\xab\xcd\xef\x01\x23\x45\x67\x89",
        b"\xff" * 8,
    )

    (row,) = rows(otlp_proto.decode("traces", request.SerializeToString()), "otel_traces")

    assert (row["trace_id"], row["span_id"]) == ("000102030405060708090a0b0c0d0e0f", "abcdef0123456789")
    assert row["parent_span_id"] == "ffffffffffffffff"


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xff\xff\xff",
        b'{"resourceMetrics": []}',
        example_protobuf("metrics")[:-7],
        b"\x0a\x80\x80\x80\x80\x08",
    ],
    ids=["garbage", "json", "truncated", "length-past-end"],
)
def test_undecodable_bytes_raise_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError, match="the body is not a valid OTLP protobuf metrics export"):
        otlp_proto.decode("metrics", body)


def test_values_out_of_the_columns_range_are_a_payload_error_not_a_crash() -> None:
    with pytest.raises(PayloadError, match=r"not a valid OTLP protobuf logs export: .*1000"):
        decode("logs", logs_request([{"severityNumber": 1000}]))
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(name="s", start_time_unix_nano=2**64 - 1)
    with pytest.raises(PayloadError, match="not a valid OTLP protobuf traces export"):
        otlp_proto.decode("traces", request.SerializeToString())


def test_an_empty_export_decodes_to_nothing() -> None:
    for signal in ("metrics", "logs", "traces"):
        batch = otlp_proto.decode(signal, b"")  # type: ignore[arg-type]
        assert (batch.tables, batch.accepted, batch.rejected.count) == ({}, 0, 0)


def test_nan_and_infinite_double_attributes_are_stored_as_otlp_json_spells_them() -> None:
    values = {"nan": "NaN", "inf": "Infinity", "neg": "-Infinity", "half": 0.5}
    attributes = [{"key": k, "value": {"doubleValue": v}} for k, v in values.items()]
    data = metrics_request([{"asDouble": 1.0, "timeUnixNano": "1", "attributes": attributes}])
    expected = {"nan": "NaN", "inf": "Infinity", "neg": "-Infinity", "half": "0.5"}

    for batch in (decode("metrics", data), otlp_json.decode("metrics", json.dumps(data).encode())):
        (point,) = rows(batch, "otel_metrics_gauge")
        assert dict(point["attributes"]) == expected
