"""OTLP request bodies for the collector's tests, and reading what the collector stored.

The official examples (``tests/fixtures/otlp-examples``) are OTLP JSON; ``example_protobuf``
re-encodes the same content as protobuf. ``EXPECTED_ROWS`` says what each example must
become in the store, column by column; ``assert_example_stored`` checks a running
collector against it through ``/api/v1/query``.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message

from tests.conftest import EXAMPLE_SIGNALS, OTLP_EXAMPLES
from trellis.collector.batch import Signal
from trellis.collector.otlp_proto import REQUEST_TYPES
from trellis.testing.otlp import (  # noqa: F401 (the payload builders the tests use, with the examples')
    JSON,
    PROTOBUF,
    gauge_points,
    logs_request,
    metrics_request,
    spans_request,
    unique,
)

_ID_FIELDS = {"traceId", "spanId", "parentSpanId"}
_RESOURCE_KEYS = {"metrics": "resourceMetrics", "logs": "resourceLogs", "traces": "resourceSpans"}


def example_signal(name: str) -> Signal:
    signal: Signal = EXAMPLE_SIGNALS[name]  # type: ignore[assignment]
    return signal


def example_dict(name: str, service_name: str | None = None) -> dict[str, Any]:
    """An official example as a dict; ``service_name`` replaces the example's ``my.service``."""
    data: dict[str, Any] = json.loads((OTLP_EXAMPLES / f"{name}.json").read_text())
    if service_name is not None:
        for items in data[_RESOURCE_KEYS[example_signal(name)]]:
            for kv in items["resource"]["attributes"]:
                if kv["key"] == "service.name":
                    kv["value"] = {"stringValue": service_name}
    return data


def example_json(name: str, service_name: str | None = None) -> bytes:
    """The example's JSON body: the file as it is, or with its service name replaced."""
    if service_name is None:
        return (OTLP_EXAMPLES / f"{name}.json").read_bytes()
    return json.dumps(example_dict(name, service_name)).encode()


def hex_ids_to_base64(data: Any) -> Any:
    """OTLP JSON (hex ids) to the plain protobuf JSON mapping (base64 bytes), for ``ParseDict``."""
    if isinstance(data, dict):
        return {
            key: base64.b64encode(bytes.fromhex(value)).decode()
            if key in _ID_FIELDS and isinstance(value, str)
            else hex_ids_to_base64(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [hex_ids_to_base64(v) for v in data]
    return data


def to_message(signal: Signal, data: dict[str, Any]) -> Message:
    """An OTLP JSON request (as a dict) parsed into its Export*ServiceRequest message."""
    message: Message = json_format.ParseDict(hex_ids_to_base64(copy.deepcopy(data)), REQUEST_TYPES[signal]())
    return message


def to_protobuf(signal: Signal, data: dict[str, Any]) -> bytes:
    return to_message(signal, data).SerializeToString()


def example_message(name: str, service_name: str | None = None) -> Message:
    return to_message(example_signal(name), example_dict(name, service_name))


def example_protobuf(name: str, service_name: str | None = None) -> bytes:
    """The same content as ``example_json(name)``, encoded as protobuf."""
    return example_message(name, service_name).SerializeToString()


def example_body(name: str, wire_format: str, service_name: str | None = None) -> bytes:
    """``example_json`` or ``example_protobuf`` by wire format ("json" or "protobuf")."""
    if wire_format == "json":
        return example_json(name, service_name)
    return example_protobuf(name, service_name)


# What the store must hold for each example (service name aside), per table.

EXAMPLE_TIME = 1544712660300000000
SCOPE = {
    "scope_name": "my.library",
    "scope_version": "1.0.0",
    "scope_attributes": {"my.scope.attribute": "some scope attribute"},
    "resource_schema_url": None,
    "scope_schema_url": None,
}
_METRIC = {**SCOPE, "metric_unit": "1", "flags": 0, "exemplars": None, "time_ns": EXAMPLE_TIME}

EXPECTED_ROWS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "metrics": {
        "otel_metrics_sum": [
            {
                **_METRIC,
                "metric_name": "my.counter",
                "metric_description": "I am a Counter",
                "start_time_ns": EXAMPLE_TIME,
                "attributes": {"my.counter.attr": "some value"},
                "aggregation_temporality": 1,
                "is_monotonic": True,
                "value": 5.0,
                "int_value": None,
            }
        ],
        "otel_metrics_gauge": [
            {
                **_METRIC,
                "metric_name": "my.gauge",
                "metric_description": "I am a Gauge",
                "start_time_ns": None,
                "attributes": {"my.gauge.attr": "some value"},
                "value": 10.0,
                "int_value": None,
            }
        ],
        "otel_metrics_histogram": [
            {
                **_METRIC,
                "metric_name": "my.histogram",
                "metric_description": "I am a Histogram",
                "start_time_ns": EXAMPLE_TIME,
                "attributes": {"my.histogram.attr": "some value"},
                "aggregation_temporality": 1,
                "count": 2,
                "sum": 2.0,
                "min": 0.0,
                "max": 2.0,
                "bucket_counts": [1, 1],
                "explicit_bounds": [1.0],
            }
        ],
        "otel_metrics_exponential_histogram": [
            {
                **_METRIC,
                "metric_name": "my.exponential.histogram",
                "metric_description": "I am an Exponential Histogram",
                "start_time_ns": EXAMPLE_TIME,
                "attributes": {"my.exponential.histogram.attr": "some value"},
                "aggregation_temporality": 1,
                "count": 3,
                "sum": 10.0,
                "min": 0.0,
                "max": 5.0,
                "scale": 0,
                "zero_count": 1,
                "zero_threshold": 0.0,
                "positive_offset": 1,
                "positive_bucket_counts": [0, 2],
                "negative_offset": 0,
                "negative_bucket_counts": [],
            }
        ],
    },
    "logs": {
        "otel_logs": [
            {
                **SCOPE,
                "time_ns": EXAMPLE_TIME,
                "observed_time_ns": EXAMPLE_TIME,
                "severity_number": 10,
                "severity_text": "Information",
                "body": "Example log record",
                "event_name": None,
                "trace_id": "5b8efff798038103d269b633813fc60c",
                "span_id": "eee19b7ec3c1b174",
                "flags": 0,
                "dropped_attributes_count": 0,
                "attributes": {
                    "string.attribute": "some string",
                    "boolean.attribute": "true",
                    "int.attribute": "10",
                    "double.attribute": "637.704",
                    "array.attribute": '["many","values"]',
                    "map.attribute": '{"some.map.key":"some value"}',
                },
            }
        ]
    },
    "events": {
        "otel_logs": [
            {
                **SCOPE,
                "time_ns": EXAMPLE_TIME,
                "observed_time_ns": EXAMPLE_TIME,
                "severity_number": 9,
                "severity_text": "test severity text",
                "body": '{"type":0,"url":"https://www.guidgenerator.com/online-guid-generator.aspx",'
                '"referrer":"https://wwww.google.com","title":"Free Online GUID Generator"}',
                "event_name": "browser.page_view",
                "trace_id": None,
                "span_id": None,
                "flags": 0,
                "dropped_attributes_count": 0,
                "attributes": {"event.attribute": "some event attribute"},
            }
        ]
    },
    "trace": {
        "otel_traces": [
            {
                **SCOPE,
                "trace_id": "5b8efff798038103d269b633813fc60c",
                "span_id": "eee19b7ec3c1b174",
                "parent_span_id": "eee19b7ec3c1b173",
                "trace_state": None,
                "flags": 0,
                "name": "I'm a server span",
                "kind": 2,
                "start_time_ns": 1544712660000000000,
                "end_time_ns": 1544712661000000000,
                "duration_ns": 1_000_000_000,
                "status_code": 0,
                "status_message": None,
                "attributes": {"my.span.attr": "some value"},
                "events": [],
                "links": [],
                "dropped_attributes_count": 0,
                "dropped_events_count": 0,
                "dropped_links_count": 0,
            }
        ]
    },
}
"""Every column of every row each example becomes; timestamps as ``<column>_ns`` (epoch nanoseconds)."""

_TIME_COLUMNS = ("time", "start_time", "end_time", "observed_time")


def query(api: str, sql: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Rows of ``POST {api}/api/v1/query`` as dicts (maps as objects, timestamps as text)."""
    response = httpx.post(f"{api}/api/v1/query", json={"sql": sql}, headers=headers or {}, timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    names = [c["name"] for c in answer["columns"]]
    return [dict(zip(names, row, strict=True)) for row in answer["rows"]]


def stored_rows(
    api: str, table: str, service_name: str, columns: list[str], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The rows of one service in ``table``: the given columns, ``*_ns`` ones as epoch nanoseconds."""
    select = ", ".join(
        f"epoch_ns({c.removesuffix('_ns')}) AS {c}" if c.removesuffix("_ns") in _TIME_COLUMNS else f'"{c}"'
        for c in columns
    )
    return query(api, f"SELECT {select} FROM {table} WHERE service_name = '{service_name}'", headers)


SIGNAL_TABLES: dict[Signal, list[str]] = {
    "metrics": [
        "otel_metrics_gauge",
        "otel_metrics_sum",
        "otel_metrics_histogram",
        "otel_metrics_exponential_histogram",
        "otel_metrics_summary",
    ],
    "logs": ["otel_logs"],
    "traces": ["otel_traces"],
}


def assert_example_stored(api: str, name: str, service_name: str, headers: dict[str, str] | None = None) -> None:
    """The collector at ``api`` holds exactly the rows example ``name`` makes, once, for ``service_name``."""
    identity = {"service_name": service_name, "resource_attributes": {"service.name": service_name}}
    expected_tables = EXPECTED_ROWS[name]
    for table, expected in expected_tables.items():
        rows = stored_rows(api, table, service_name, [*identity, *expected[0]], headers)
        assert rows == [{**identity, **row} for row in expected], table
    for table in SIGNAL_TABLES[example_signal(name)]:
        if table not in expected_tables:
            count = query(api, f"SELECT count(*) AS n FROM {table} WHERE service_name = '{service_name}'", headers)
            assert count == [{"n": 0}], f"example {name} wrote rows into {table}"


def row_counts(api: str, headers: dict[str, str] | None = None) -> dict[str, int]:
    """Exact row counts of every signal table."""
    tables = [t for ts in SIGNAL_TABLES.values() for t in ts]
    sql = " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM {t}" for t in tables)
    return {row["t"]: row["n"] for row in query(api, sql, headers)}


def decoded_rows(table: Any) -> list[dict[str, Any]]:
    """A decoded Arrow table as dicts: timestamp columns as ``<name>_ns`` integers, maps as dicts."""
    import pyarrow as pa

    columns = {}
    for field in table.schema:
        column = table[field.name]
        if pa.types.is_timestamp(field.type):
            columns[f"{field.name}_ns"] = column.cast(pa.int64())
        else:
            columns[field.name] = column
    return pa.table(columns).to_pylist(maps_as_pydicts="strict")  # type: ignore[no-any-return]


def expected_decoded_rows(name: str, table: str, service_name: str = "my.service") -> list[dict[str, Any]]:
    """Every column (but ``series_id``) a decoder must produce for example ``name`` in ``table``."""
    from trellis.collector.schema import PROMOTED_RESOURCE_ATTRIBUTES

    identity = {
        **dict.fromkeys(PROMOTED_RESOURCE_ATTRIBUTES.values()),
        "service_name": service_name,
        "resource_attributes": {"service.name": service_name},
    }
    return [{**identity, **row} for row in EXPECTED_ROWS[name][table]]


def without_series_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "series_id"} for row in rows]
