"""The OTLP JSON decoder: the official examples and the OTLP JSON rules, without a server."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tests.collector.otlp_payloads import (
    EXPECTED_ROWS,
    decoded_rows,
    example_dict,
    example_json,
    example_signal,
    expected_decoded_rows,
    logs_request,
    metrics_request,
    spans_request,
    without_series_id,
)
from tests.conftest import EXAMPLE_SIGNALS
from trellis.collector import otlp_json
from trellis.collector.batch import ExportBatch
from trellis.collector.decode_errors import PayloadError

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def decode(signal: str, data: Any) -> ExportBatch:
    return otlp_json.decode(signal, json.dumps(data).encode())  # type: ignore[arg-type]


def rows(batch: ExportBatch, table: str) -> list[dict[str, Any]]:
    return decoded_rows(batch.rows(table))


@pytest.mark.parametrize("name", EXAMPLE_SIGNALS)
def test_official_example_decodes_completely(name: str) -> None:
    batch = otlp_json.decode(example_signal(name), example_json(name))

    assert set(batch.tables) == set(EXPECTED_ROWS[name])
    for table in batch.tables:
        assert without_series_id(rows(batch, table)) == expected_decoded_rows(name, table)
    assert batch.accepted == sum(len(r) for r in EXPECTED_ROWS[name].values())
    assert batch.rejected.count == 0
    assert batch.rejected.message == ""


def test_metric_points_of_different_series_get_different_stable_ids() -> None:
    first = otlp_json.decode("metrics", example_json("metrics"))
    again = otlp_json.decode("metrics", example_json("metrics"))
    ids = [t["series_id"][0].as_py() for t in first.tables.values()]

    assert len(set(ids)) == len(ids)
    assert ids == [t["series_id"][0].as_py() for t in again.tables.values()]


def test_attributes_of_every_type_are_text_and_non_strings_json() -> None:
    values = {
        "s": {"stringValue": "text"},
        "empty.s": {"stringValue": ""},
        "b": {"boolValue": False},
        "i.str": {"intValue": "-42"},
        "i.num": {"intValue": 42},
        "d": {"doubleValue": 0.25},
        "d.int": {"doubleValue": 3},
        "arr": {"arrayValue": {"values": [{"intValue": "1"}, {"boolValue": True}, {"stringValue": "x"}]}},
        "kv": {"kvlistValue": {"values": [{"key": "n", "value": {"kvlistValue": {"values": []}}}]}},
        "bytes": {"bytesValue": "AAEC"},
        "none": {},
    }
    record = {"attributes": [{"key": k, "value": v} for k, v in values.items()]}

    (row,) = rows(decode("logs", logs_request([record])), "otel_logs")

    assert row["attributes"] == {
        "s": "text",
        "empty.s": "",
        "b": "false",
        "i.str": "-42",
        "i.num": "42",
        "d": "0.25",
        "d.int": "3.0",
        "arr": '[1,true,"x"]',
        "kv": '{"n":{}}',
        "bytes": "AAEC",
        "none": "null",
    }


@pytest.mark.parametrize("trace_id", [TRACE_ID, TRACE_ID.upper(), "5B8eFFF798038103d269B633813fc60C"])
def test_hex_ids_of_either_case_are_stored_lower_case(trace_id: str) -> None:
    span = {"traceId": trace_id, "spanId": SPAN_ID.upper(), "parentSpanId": SPAN_ID.upper(), "name": "s"}
    link = {"traceId": trace_id, "spanId": SPAN_ID.upper()}
    batch = decode("traces", spans_request([{**span, "links": [link]}]))
    (row,) = rows(batch, "otel_traces")

    assert (row["trace_id"], row["span_id"], row["parent_span_id"]) == (TRACE_ID, SPAN_ID, SPAN_ID)
    assert row["links"] == [
        {"trace_id": TRACE_ID, "span_id": SPAN_ID, "trace_state": None, "attributes": {}, "flags": 0}
    ]


def test_int64_fields_are_read_from_strings_and_numbers_alike() -> None:
    as_strings = {"asInt": "7", "timeUnixNano": "1700000000000000001", "startTimeUnixNano": "1700000000000000000"}
    as_numbers = {"asInt": 7, "timeUnixNano": 1700000000000000001, "startTimeUnixNano": 1700000000000000000}
    histogram = {"count": 3, "bucketCounts": [1, "2"], "explicitBounds": [5], "timeUnixNano": 1700000000000000001}

    from_strings = rows(decode("metrics", metrics_request([as_strings])), "otel_metrics_gauge")
    from_numbers = rows(decode("metrics", metrics_request([as_numbers])), "otel_metrics_gauge")
    (hist,) = rows(decode("metrics", metrics_request([histogram], kind="histogram")), "otel_metrics_histogram")

    assert from_strings == from_numbers
    assert (from_strings[0]["int_value"], from_strings[0]["time_ns"]) == (7, 1700000000000000001)
    assert from_strings[0]["start_time_ns"] == 1700000000000000000
    assert (hist["count"], hist["bucket_counts"], hist["explicit_bounds"]) == (3, [1, 2], [5.0])


def _legacy(data: dict[str, Any], resource_key: str, old: str, new: str) -> dict[str, Any]:
    """The same request with the pre-1.0 ``instrumentationLibrary*`` keys."""
    for items in data[resource_key]:
        scoped = items.pop(new)
        for entry in scoped:
            entry["instrumentationLibrary"] = entry.pop("scope")
        items[old] = scoped
    return data


@pytest.mark.parametrize(
    ("name", "resource_key", "old", "new"),
    [
        ("metrics", "resourceMetrics", "instrumentationLibraryMetrics", "scopeMetrics"),
        ("trace", "resourceSpans", "instrumentationLibrarySpans", "scopeSpans"),
        ("logs", "resourceLogs", "instrumentationLibraryLogs", "scopeLogs"),
    ],
)
def test_instrumentation_library_keys_are_read_as_scope(name: str, resource_key: str, old: str, new: str) -> None:
    legacy = _legacy(example_dict(name), resource_key, old, new)
    assert old in json.dumps(legacy)
    assert new not in json.dumps(legacy)

    batch = decode(example_signal(name), legacy)

    for table in EXPECTED_ROWS[name]:
        assert without_series_id(rows(batch, table)) == expected_decoded_rows(name, table)


def _with_unknown_fields(data: Any) -> Any:
    if isinstance(data, dict):
        return {**{k: _with_unknown_fields(v) for k, v in data.items()}, "someFutureField": {"x": [1, "y"]}}
    if isinstance(data, list):
        return [_with_unknown_fields(v) for v in data]
    return data


@pytest.mark.parametrize("name", EXAMPLE_SIGNALS)
def test_unknown_fields_are_ignored_everywhere(name: str) -> None:
    padded = _with_unknown_fields(example_dict(name))
    assert json.dumps(padded).count("someFutureField") > 10

    batch = decode(example_signal(name), padded)

    for table in EXPECTED_ROWS[name]:
        assert without_series_id(rows(batch, table)) == expected_decoded_rows(name, table)


def test_nan_and_infinity_doubles_are_read_from_their_json_strings() -> None:
    points = [{"asDouble": "NaN"}, {"asDouble": "Infinity"}, {"asDouble": "-Infinity"}, {"asDouble": "1.5"}]
    histogram = {"count": "1", "sum": "NaN", "min": "-Infinity", "max": "Infinity", "explicitBounds": []}

    values = [r["value"] for r in rows(decode("metrics", metrics_request(points)), "otel_metrics_gauge")]
    (hist,) = rows(decode("metrics", metrics_request([histogram], kind="histogram")), "otel_metrics_histogram")

    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf, 1.5]
    assert math.isnan(hist["sum"])
    assert (hist["min"], hist["max"]) == (-math.inf, math.inf)


@pytest.mark.parametrize("kind", ["gauge", "sum"])
def test_a_point_without_value_is_rejected_and_the_others_kept(kind: str) -> None:
    points = [{"asDouble": 1.5, "timeUnixNano": "1"}, {"timeUnixNano": "2"}, {"asInt": "3", "timeUnixNano": "3"}]
    batch = decode("metrics", metrics_request(points, kind=kind, name="half.empty"))

    kept = rows(batch, f"otel_metrics_{kind}")
    assert [(r["time_ns"], r["value"], r["int_value"]) for r in kept] == [(1, 1.5, None), (3, 3.0, 3)]
    assert batch.accepted == 2
    assert batch.rejected.count == 1
    assert batch.rejected.message == "metric 'half.empty': a data point has no value"


def test_a_point_flagged_no_recorded_value_is_kept_with_null_value() -> None:
    points = [{"flags": 1, "timeUnixNano": "5"}, {"asDouble": 2.0, "timeUnixNano": "6"}]
    batch = decode("metrics", metrics_request(points, kind="sum", extra={"aggregationTemporality": 2}))

    kept = rows(batch, "otel_metrics_sum")
    assert [(r["flags"], r["value"], r["int_value"]) for r in kept] == [(1, None, None), (0, 2.0, None)]
    assert batch.rejected.count == 0


@pytest.mark.parametrize("exact", [2**62 + 1, 2**63 - 1, -(2**63), -(2**53) - 1])
def test_int_points_keep_their_exact_value(exact: int) -> None:
    for as_int in (str(exact), exact):
        (row,) = rows(decode("metrics", metrics_request([{"asInt": as_int}])), "otel_metrics_gauge")
        assert row["int_value"] == exact
        assert row["value"] == float(exact)


def test_zero_timestamps_are_stored_as_null() -> None:
    point = {"asDouble": 1, "timeUnixNano": "0", "startTimeUnixNano": 0}
    span = {"traceId": TRACE_ID, "spanId": SPAN_ID, "startTimeUnixNano": "0", "endTimeUnixNano": "0"}
    record = {"timeUnixNano": "0", "observedTimeUnixNano": 0, "body": {"stringValue": "b"}}

    (gauge,) = rows(decode("metrics", metrics_request([point])), "otel_metrics_gauge")
    (trace,) = rows(decode("traces", spans_request([span])), "otel_traces")
    (log,) = rows(decode("logs", logs_request([record])), "otel_logs")

    assert (gauge["time_ns"], gauge["start_time_ns"]) == (None, None)
    assert (trace["start_time_ns"], trace["end_time_ns"], trace["duration_ns"]) == (None, None, None)
    assert (log["time_ns"], log["observed_time_ns"]) == (None, None)


def test_histogram_with_mismatched_buckets_is_rejected_and_the_others_kept() -> None:
    points = [
        {"count": "2", "bucketCounts": ["1", "1"], "explicitBounds": [1.0]},
        {"count": "2", "bucketCounts": ["1", "1"], "explicitBounds": [1.0, 2.0]},
    ]
    batch = decode("metrics", metrics_request(points, kind="histogram", name="h"))

    assert [r["bucket_counts"] for r in rows(batch, "otel_metrics_histogram")] == [[1, 1]]
    assert batch.rejected.count == 1
    assert batch.rejected.message == "metric 'h': a histogram point has 2 bucket counts for 2 bounds"


def test_a_metric_without_data_is_rejected() -> None:
    data = metrics_request([{"asDouble": 1}], name="kept")
    data["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].append({"name": "dataless", "unit": "s"})

    batch = decode("metrics", data)

    assert [r["metric_name"] for r in rows(batch, "otel_metrics_gauge")] == ["kept"]
    assert (batch.rejected.count, batch.rejected.message) == (1, "metric 'dataless' has no data")


def _span_with(**fields: Any) -> dict[str, Any]:
    return spans_request([{"traceId": TRACE_ID, "spanId": SPAN_ID, "name": "s", **fields}])


def _gauge_point(**fields: Any) -> dict[str, Any]:
    return metrics_request([{"asDouble": 1.0, **fields}])


@pytest.mark.parametrize(
    ("signal", "body", "problem"),
    [
        ("metrics", b"not json", "the body is not valid JSON"),
        ("metrics", b"", "the body is not valid JSON"),
        ("metrics", b"[1, 2]", "an OTLP metrics export must be a JSON object"),
        ("logs", b'"resourceLogs"', "an OTLP logs export must be a JSON object"),
        ("traces", _span_with(traceId="5b8efff798038103d269b633813fc60g"), "traceId must be hex, got"),
        ("traces", _span_with(traceId="5b8efff798038103d269b633813fc6  "), "traceId must be hex, got"),
        ("traces", _span_with(spanId="eee19b7e"), "spanId must be 16 hex digits, got 'eee19b7e'"),
        ("traces", _span_with(parentSpanId=12345), "parentSpanId must be 16 hex digits, got 12345"),
        ("logs", logs_request([{"traceId": "xyz"}]), "traceId must be 32 hex digits, got 'xyz'"),
        ("metrics", {"resourceMetrics": {"a": 1}}, "field 'resourceMetrics' must be an array"),
        ("metrics", _gauge_point(asDouble="abc"), "asDouble must be a number, got 'abc'"),
        ("metrics", metrics_request([{"asInt": "1.5"}]), "asInt must be an integer, got '1.5'"),
        ("metrics", metrics_request([{"asInt": True}]), "asInt must be an integer, got True"),
        ("metrics", _gauge_point(timeUnixNano="soon"), "timeUnixNano must be an integer, got 'soon'"),
        ("traces", _span_with(kind="SPAN_KIND_SERVER"), "kind must be an integer"),
        ("logs", logs_request([{"attributes": [{"key": "k", "value": "v"}]}]), "attribute value must be an object"),
        ("logs", logs_request([{"attributes": [{"value": {"stringValue": "v"}}]}]), "missing field 'key'"),
        ("logs", logs_request([{"severityNumber": 1000}]), "1000"),
    ],
)
def test_bad_payloads_raise_payload_error_naming_the_problem(signal: str, body: Any, problem: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(PayloadError) as error:
        otlp_json.decode(signal, raw)  # type: ignore[arg-type]
    assert problem in str(error.value)


def test_timestamps_past_int64_are_a_payload_error_not_a_crash() -> None:
    with pytest.raises(PayloadError, match="not a valid OTLP traces export"):
        decode("traces", _span_with(startTimeUnixNano=str(2**64 - 1)))
    with pytest.raises(PayloadError, match="not a valid OTLP metrics export"):
        decode("metrics", metrics_request([{"asInt": str(2**63)}]))


def test_an_empty_export_decodes_to_nothing() -> None:
    for signal in ("metrics", "logs", "traces"):
        batch = otlp_json.decode(signal, b"{}")  # type: ignore[arg-type]
        assert (batch.tables, batch.accepted, batch.rejected.count) == ({}, 0, 0)


def test_booleans_sent_as_strings_keep_their_value() -> None:
    body = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "jobs",
                                "sum": {
                                    "aggregationTemporality": 2,
                                    "isMonotonic": "false",
                                    "dataPoints": [
                                        {
                                            "asInt": "3",
                                            "timeUnixNano": "1",
                                            "attributes": [{"key": "ok", "value": {"boolValue": "false"}}],
                                        }
                                    ],
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    table = otlp_json.decode("metrics", json.dumps(body).encode()).rows("otel_metrics_sum").to_pylist()
    assert table[0]["is_monotonic"] is False
    assert table[0]["attributes"] == [("ok", "false")]


def test_a_boolean_that_is_neither_true_nor_false_is_refused_naming_the_field() -> None:
    body = (
        b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"k","value":{"boolValue":"yes"}}]}]}]}]}'
    )
    with pytest.raises(PayloadError, match="boolValue must be true or false"):
        otlp_json.decode("logs", body)
