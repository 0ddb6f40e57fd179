"""OTLP request bodies to send to a collector, as JSON dicts or protobuf bytes, and reading them back.

``metrics_export`` builds protobuf gauge exports whose values encode an export key, so that
``stored_exports`` can tell, through the query API, how many points of each export were stored:
what the durability and backpressure tests and the ingest benchmark need to prove nothing
acknowledged was lost.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
PROTOBUF_HEADERS = {"Content-Type": PROTOBUF}
"""The headers of an OTLP/HTTP protobuf export."""
BASE_NS = 1_767_268_800_000_000_000
"""2026-01-01T12:00:00Z: the first point's time in ``metrics_export``."""
KEY_STRIDE = 1_000
"""``int_value = key * KEY_STRIDE + i``: the key of an export is ``int_value // KEY_STRIDE``."""


def unique(prefix: str = "svc") -> str:
    """A name no other caller uses, to find one test's rows in a shared collector."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def metrics_export(metric: str, key: int, points: int = 500) -> bytes:
    """An OTLP/protobuf gauge export of ``points`` distinct series whose int values encode ``key``."""
    assert points <= KEY_STRIDE
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="tests")))
    metric_message = resource_metrics.scope_metrics.add().metrics.add(name=metric)
    for i in range(points):
        point = metric_message.gauge.data_points.add(time_unix_nano=BASE_NS + i, as_int=key * KEY_STRIDE + i)
        point.attributes.append(KeyValue(key="i", value=AnyValue(string_value=str(i))))
    return request.SerializeToString()


def stored_exports(api: str, metric: str, headers: dict[str, str] | None = None) -> dict[int, int]:
    """Points stored per export key of ``metric``, read through a collector's query API."""
    sql = (
        f"SELECT int_value // {KEY_STRIDE} AS key, count(*) AS points FROM otel_metrics_gauge "
        "WHERE metric_name = $metric GROUP BY key"
    )
    body = {"sql": sql, "params": {"metric": metric}}
    response = httpx.post(f"{api}/api/v1/query", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return {int(key): int(points) for key, points in response.json()["rows"]}


def _resource(service_name: str) -> dict[str, Any]:
    return {"attributes": [{"key": "service.name", "value": {"stringValue": service_name}}]}


def metrics_request(
    points: list[dict[str, Any]],
    *,
    name: str = "test.metric",
    kind: str = "gauge",
    service_name: str = "test.service",
    unit: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An OTLP JSON metrics request with one metric of ``kind`` holding ``points``."""
    data: dict[str, Any] = {"dataPoints": points, **(extra or {})}
    metric = {"name": name, "unit": unit, kind: data}
    scope = {"scope": {"name": "tests"}, "metrics": [metric]}
    return {"resourceMetrics": [{"resource": _resource(service_name), "scopeMetrics": [scope]}]}


def gauge_points(n: int, start: int = 1_700_000_000_000_000_000) -> list[dict[str, Any]]:
    """``n`` double gauge points, one nanosecond apart, with values 0, 1, 2..."""
    return [{"asDouble": float(i), "timeUnixNano": str(start + i)} for i in range(n)]


def spans_request(spans: list[dict[str, Any]], service_name: str = "test.service") -> dict[str, Any]:
    """An OTLP JSON traces request holding ``spans`` of one service."""
    scope = {"scope": {"name": "tests"}, "spans": spans}
    return {"resourceSpans": [{"resource": _resource(service_name), "scopeSpans": [scope]}]}


def logs_request(records: list[dict[str, Any]], service_name: str = "test.service") -> dict[str, Any]:
    """An OTLP JSON logs request holding ``records`` of one service."""
    scope = {"scope": {"name": "tests"}, "logRecords": records}
    return {"resourceLogs": [{"resource": _resource(service_name), "scopeLogs": [scope]}]}


__all__ = [
    "BASE_NS",
    "JSON",
    "KEY_STRIDE",
    "PROTOBUF",
    "PROTOBUF_HEADERS",
    "gauge_points",
    "logs_request",
    "metrics_export",
    "metrics_request",
    "spans_request",
    "stored_exports",
    "unique",
]
