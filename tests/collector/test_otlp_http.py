"""OTLP/HTTP against a running collector: what is stored, what is answered, and what is refused."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status

from tests.collector.otlp_payloads import (
    JSON,
    PROTOBUF,
    assert_example_stored,
    example_body,
    example_json,
    example_signal,
    metrics_request,
    query,
    row_counts,
    spans_request,
    to_protobuf,
    unique,
)
from tests.conftest import EXAMPLE_SIGNALS
from trellis.collector.ingest import RESPONSE_TYPES
from trellis.testing import RunningCollector, start_collector

pytestmark = pytest.mark.slow

MEDIA = {"json": JSON, "protobuf": PROTOBUF}
GRPC_INVALID_ARGUMENT, GRPC_UNIMPLEMENTED, GRPC_RESOURCE_EXHAUSTED = 3, 12, 8
COMPRESS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "deflate": zlib.compress}


def post(
    collector: RunningCollector, signal: str, body: bytes, content_type: str | None, **headers: str
) -> httpx.Response:
    all_headers = {**({"Content-Type": content_type} if content_type else {}), **headers}
    return httpx.post(f"{collector.otlp_http}/v1/{signal}", content=body, headers=all_headers, timeout=30)


def export_response(signal: str, response: httpx.Response) -> Any:
    """The answer parsed as the signal's Export*ServiceResponse, in the format the answer says it is."""
    message = RESPONSE_TYPES[signal]()  # type: ignore[index]
    if response.headers["content-type"] == JSON:
        return json_format.Parse(response.text, message)
    message.ParseFromString(response.content)
    return message


def error_status(response: httpx.Response) -> Status:
    """An error answer's google.rpc.Status, in the format the answer says it is."""
    if response.headers["content-type"] == JSON:
        body = response.json()
        assert set(body) == {"code", "message"}
        return Status(code=body["code"], message=body["message"])
    assert response.headers["content-type"] == PROTOBUF
    return Status.FromString(response.content)


@pytest.fixture
def unchanged(collector: RunningCollector) -> Iterator[None]:
    """The test must not change any signal table of the shared collector."""
    before = row_counts(collector.api)
    yield
    assert row_counts(collector.api) == before


@pytest.mark.parametrize("wire_format", ["json", "protobuf"])
@pytest.mark.parametrize("name", EXAMPLE_SIGNALS)
def test_official_example_is_stored_completely(collector: RunningCollector, name: str, wire_format: str) -> None:
    service = unique(name)
    signal = example_signal(name)

    response = post(collector, signal, example_body(name, wire_format, service), MEDIA[wire_format])

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA[wire_format]
    answer = export_response(signal, response)
    assert not answer.HasField("partial_success")
    if wire_format == "json":
        assert response.json() == {}
    assert_example_stored(collector.api, name, service)


def test_unchanged_example_file_is_accepted_as_it_is(collector: RunningCollector) -> None:
    before = query(
        collector.api, "SELECT count(*) AS n FROM otel_traces WHERE trace_id = '5b8efff798038103d269b633813fc60c'"
    )

    response = post(collector, "traces", example_json("trace"), JSON)

    assert response.status_code == 200
    after = query(
        collector.api, "SELECT count(*) AS n FROM otel_traces WHERE trace_id = '5b8efff798038103d269b633813fc60c'"
    )
    assert after[0]["n"] == before[0]["n"] + 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("wire_format", ["json", "protobuf"])
def test_compressed_bodies_are_stored_completely(collector: RunningCollector, wire_format: str, encoding: str) -> None:
    service = unique(encoding)
    body = COMPRESS[encoding](example_body("metrics", wire_format, service))

    response = post(collector, "metrics", body, MEDIA[wire_format], **{"Content-Encoding": encoding})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA[wire_format]
    assert_example_stored(collector.api, "metrics", service)


def test_content_type_parameters_and_case_are_accepted(collector: RunningCollector) -> None:
    service = unique("charset")

    response = post(collector, "logs", example_json("logs", service), "Application/JSON; charset=utf-8")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    assert_example_stored(collector.api, "logs", service)


def _half_empty_gauge(name: str, service: str) -> dict[str, Any]:
    points = [{"asDouble": 1.5, "timeUnixNano": "1"}, {"timeUnixNano": "2"}, {"asInt": "3", "timeUnixNano": "3"}]
    return metrics_request(points, name=name, service_name=service)


@pytest.mark.parametrize("wire_format", ["json", "protobuf"])
def test_a_point_without_value_is_reported_as_partial_success(collector: RunningCollector, wire_format: str) -> None:
    service, metric = unique("partial"), unique("metric")
    data = _half_empty_gauge(metric, service)
    body = json.dumps(data).encode() if wire_format == "json" else to_protobuf("metrics", data)

    response = post(collector, "metrics", body, MEDIA[wire_format])

    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA[wire_format]
    message = f"metric '{metric}': a data point has no value"
    if wire_format == "json":
        assert response.json() == {"partialSuccess": {"rejectedDataPoints": "1", "errorMessage": message}}
    answer = export_response("metrics", response)
    assert answer.partial_success.rejected_data_points == 1
    assert answer.partial_success.error_message == message
    stored = query(
        collector.api,
        f"SELECT epoch_ns(time) AS t, value, int_value FROM otel_metrics_gauge "
        f"WHERE service_name = '{service}' ORDER BY t",
    )
    assert stored == [{"t": 1, "value": 1.5, "int_value": None}, {"t": 3, "value": 3.0, "int_value": 3}]


def test_rejected_points_are_counted_in_stats(collector: RunningCollector) -> None:
    before = httpx.get(f"{collector.api}/api/v1/stats").json()

    post(collector, "metrics", json.dumps(_half_empty_gauge("m", unique())).encode(), JSON)

    after = httpx.get(f"{collector.api}/api/v1/stats").json()
    assert after["points_rejected"] == before["points_rejected"] + 1
    assert after["points_ingested"] == before["points_ingested"] + 2


@pytest.mark.parametrize(
    ("wire_format", "signal", "body", "problem"),
    [
        ("json", "metrics", b"this is not json", "the body is not valid JSON"),
        ("json", "logs", b"[]", "an OTLP logs export must be a JSON object"),
        ("json", "traces", json.dumps(spans_request([{"traceId": "zz" * 16}])).encode(), "traceId must be hex"),
        ("json", "metrics", json.dumps(metrics_request([{"asDouble": "x"}])).encode(), "asDouble must be a number"),
        ("protobuf", "metrics", b"\xff\xff\xff\xff", "not a valid OTLP protobuf metrics export"),
        ("protobuf", "traces", example_json("trace"), "not a valid OTLP protobuf traces export"),
        (
            "protobuf",
            "logs",
            to_protobuf("logs", {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityNumber": 999}]}]}]}),
            "999",
        ),
    ],
    ids=["not-json", "not-object", "bad-hex", "wrong-type", "garbage", "json-as-protobuf", "out-of-range"],
)
def test_undecodable_payloads_get_400_with_a_status_in_the_request_format(
    collector: RunningCollector, unchanged: None, wire_format: str, signal: str, body: bytes, problem: str
) -> None:
    response = post(collector, signal, body, MEDIA[wire_format])

    assert response.status_code == 400
    assert response.headers["content-type"] == MEDIA[wire_format]
    status = error_status(response)
    assert status.code == GRPC_INVALID_ARGUMENT
    assert problem in status.message


def test_an_export_with_one_bad_span_stores_none_of_it(collector: RunningCollector, unchanged: None) -> None:
    good = {"traceId": "01" * 16, "spanId": "02" * 8, "name": "good"}
    body = json.dumps(spans_request([good, {**good, "spanId": "not-hex!" * 2}], service_name=unique())).encode()

    response = post(collector, "traces", body, JSON)

    assert response.status_code == 400
    assert "spanId must be hex" in response.json()["message"]


def test_invalid_compressed_data_gets_400(collector: RunningCollector, unchanged: None) -> None:
    response = post(collector, "metrics", b"not gzip at all", PROTOBUF, **{"Content-Encoding": "gzip"})

    assert response.status_code == 400
    assert "not valid compressed data" in error_status(response).message


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/grpc", None])
def test_other_content_types_get_415(collector: RunningCollector, unchanged: None, content_type: str | None) -> None:
    response = post(collector, "metrics", example_json("metrics"), content_type)

    assert response.status_code == 415
    status = error_status(response)
    assert "is not supported; use application/x-protobuf or application/json" in status.message


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br"])
@pytest.mark.parametrize("wire_format", ["json", "protobuf"])
def test_unknown_content_encodings_get_415(
    collector: RunningCollector, unchanged: None, wire_format: str, encoding: str
) -> None:
    body = gzip.compress(example_body("metrics", wire_format))

    response = post(collector, "metrics", body, MEDIA[wire_format], **{"Content-Encoding": encoding})

    assert response.status_code == 415
    assert response.headers["content-type"] == MEDIA[wire_format]
    assert f"content encoding {encoding!r} is not supported" in error_status(response).message


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("signal", ["metrics", "logs", "traces"])
def test_methods_other_than_post_get_405(
    collector: RunningCollector, unchanged: None, signal: str, method: str
) -> None:
    response = httpx.request(
        method, f"{collector.otlp_http}/v1/{signal}", content=example_json("metrics"), headers={"Content-Type": JSON}
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    status = error_status(response)
    assert status.code == GRPC_UNIMPLEMENTED
    assert status.message == f"{method} is not allowed on /v1/{signal}; use POST"


def test_unknown_paths_get_404(collector: RunningCollector) -> None:
    response = post(collector, "profiles", example_json("metrics"), JSON)

    assert response.status_code == 404


LIMIT = 4096


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """A collector whose body limit is 4 KiB."""
    running = start_collector(tmp_path_factory.mktemp("limited") / "trellis.duckdb", "--max-body-bytes", str(LIMIT))
    yield running
    running.stop()


def _json_of_size(size: int) -> bytes:
    """A valid (empty) metrics export padded with spaces to exactly ``size`` bytes."""
    body = b'{"resourceMetrics": []}'
    return body[:-1] + b" " * (size - len(body)) + body[-1:]


@pytest.mark.parametrize("encoding", [None, "gzip", "deflate"])
def test_a_body_of_exactly_the_limit_is_accepted(limited: RunningCollector, encoding: str | None) -> None:
    body = _json_of_size(LIMIT)
    headers = {"Content-Encoding": encoding} if encoding else {}

    response = post(limited, "metrics", COMPRESS[encoding](body) if encoding else body, JSON, **headers)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("wire_format", ["json", "protobuf"])
def test_a_body_over_the_limit_gets_413(limited: RunningCollector, wire_format: str) -> None:
    before = row_counts(limited.api)

    response = post(limited, "metrics", _json_of_size(LIMIT + 1), MEDIA[wire_format])

    assert response.status_code == 413
    assert response.headers["content-type"] == MEDIA[wire_format]
    status = error_status(response)
    assert status.code == GRPC_RESOURCE_EXHAUSTED
    assert status.message == f"the body is larger than {LIMIT} bytes after decompression"
    assert row_counts(limited.api) == before


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_body_is_measured_after_decompression(limited: RunningCollector, encoding: str) -> None:
    """A small bomb: well under the limit on the wire, far past it once inflated."""
    before = row_counts(limited.api)
    bomb = COMPRESS[encoding](_json_of_size(3 * 1024 * 1024))
    just_over = COMPRESS[encoding](_json_of_size(LIMIT + 1))
    assert len(bomb) < LIMIT
    assert len(just_over) < 100

    for body in (bomb, just_over):
        response = post(limited, "metrics", body, JSON, **{"Content-Encoding": encoding})
        assert response.status_code == 413
        assert response.json()["message"] == f"the body is larger than {LIMIT} bytes after decompression"
    assert row_counts(limited.api) == before
    assert httpx.get(f"{limited.api}/api/v1/health").json()["status"] == "ok"


def test_a_compressed_example_under_the_limit_is_stored(limited: RunningCollector) -> None:
    service = unique("small")
    body = gzip.compress(example_body("trace", "protobuf", service))

    response = post(limited, "traces", body, PROTOBUF, **{"Content-Encoding": "gzip"})

    assert response.status_code == 200
    assert_example_stored(limited.api, "trace", service)


def test_the_limit_flag_is_what_decides(limited: RunningCollector, collector: RunningCollector) -> None:
    """The same 6 KB body: refused under a 4 KiB limit, stored under the default 64 MiB one."""
    service = unique("limit")
    body = example_json("metrics", service)
    body = body[:-1] + b" " * (6000 - len(body)) + body[-1:]

    assert post(limited, "metrics", body, JSON).status_code == 413
    assert post(collector, "metrics", body, JSON).status_code == 200
    assert_example_stored(collector.api, "metrics", service)


def test_spans_with_nanosecond_event_times_read_back_through_the_json_query_api(collector: RunningCollector) -> None:
    service = unique("events")
    start = 1_700_000_000_000_000_001
    span = {
        "traceId": "0a" * 16,
        "spanId": "0b" * 8,
        "name": "with events",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 10),
        "events": [
            {"timeUnixNano": str(start + 5), "name": "tick", "attributes": [{"key": "n", "value": {"intValue": 1}}]}
        ],
        "links": [{"traceId": "0c" * 16, "spanId": "0d" * 8, "traceState": "k=v"}],
    }
    assert post(collector, "traces", json.dumps(spans_request([span], service)).encode(), JSON).status_code == 200

    (row,) = query(collector.api, f"SELECT * FROM otel_traces WHERE service_name = '{service}'")

    assert row["start_time"] == "2023-11-14 22:13:20.000000001Z"
    assert row["events"] == [{"time": "2023-11-14 22:13:20.000000006Z", "name": "tick", "attributes": {"n": "1"}}]
    assert row["links"] == [
        {"trace_id": "0c" * 16, "span_id": "0d" * 8, "trace_state": "k=v", "attributes": {}, "flags": 0}
    ]


def _kv(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _with_duplicate_keys(signal: str, service: str) -> dict[str, Any]:
    """An export whose resource, scope and item attributes each name a key twice (and span events too)."""
    twice = [_kv("k", "first"), _kv("other", "x"), _kv("k", "last")]
    resource = {"attributes": [_kv("service.name", service), _kv("team", "a"), _kv("team", "b")]}
    scope = {"name": "tests", "attributes": twice}
    if signal == "metrics":
        point = {"asDouble": 1.0, "timeUnixNano": "5", "attributes": twice}
        items: dict[str, Any] = {"metrics": [{"name": f"{service}.m", "gauge": {"dataPoints": [point]}}]}
        return {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"scope": scope, **items}]}]}
    if signal == "logs":
        record = {"timeUnixNano": "5", "body": {"stringValue": "hi"}, "attributes": twice}
        return {"resourceLogs": [{"resource": resource, "scopeLogs": [{"scope": scope, "logRecords": [record]}]}]}
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "s", "kind": 1,
        "startTimeUnixNano": "5", "endTimeUnixNano": "6", "attributes": twice,
        "events": [{"timeUnixNano": "5", "name": "e", "attributes": twice}],
    }  # fmt: skip
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": scope, "spans": [span]}]}]}


TABLE_OF = {"metrics": "otel_metrics_gauge", "logs": "otel_logs", "traces": "otel_traces"}


@pytest.mark.parametrize("wire_format", ["json", "protobuf"])
@pytest.mark.parametrize("signal", ["metrics", "logs", "traces"])
def test_duplicate_attribute_keys_keep_the_last_value_and_are_reported(
    collector: RunningCollector, signal: str, wire_format: str
) -> None:
    """OTLP forbids a key twice in one map. Such an export is stored once, the last value of each key
    kept, with a warning in partial_success (nothing rejected): never a retryable error that an
    exporter would send again forever."""
    service = unique("dupkeys")
    data = _with_duplicate_keys(signal, service)
    body = json.dumps(data).encode() if wire_format == "json" else to_protobuf(signal, data)  # type: ignore[arg-type]

    response = post(collector, signal, body, MEDIA[wire_format])

    assert response.status_code == 200, response.text
    answer = export_response(signal, response)
    assert "duplicate attribute keys" in answer.partial_success.error_message
    assert "the last value of each was kept" in answer.partial_success.error_message
    assert (
        getattr(
            answer.partial_success,
            f"rejected_{ {'metrics': 'data_points', 'logs': 'log_records', 'traces': 'spans'}[signal] }",
        )
        == 0
    )
    extra = ", events[1].attributes['k'] AS event_k" if signal == "traces" else ""
    stored = query(
        collector.api,
        f"SELECT attributes['k'] AS k, attributes['other'] AS other, resource_attributes['team'] AS team, "
        f"scope_attributes['k'] AS scope_k{extra} FROM {TABLE_OF[signal]} WHERE service_name = '{service}'",
    )
    expected = {"k": "last", "other": "x", "team": "b", "scope_k": "last"}
    assert stored == [{**expected, **({"event_k": "last"} if signal == "traces" else {})}]


def test_the_body_byte_budget_admits_bodies_until_spent_and_a_huge_one_alone() -> None:
    """Bodies take their size before they are read: a few huge exports wait instead of all sitting in
    memory at once (eight 500,000-point exports took the collector to 1.6 GB)."""
    import asyncio

    from trellis.collector.otlp_http import ByteBudget

    async def scenario() -> None:
        budget = ByteBudget(100)
        first = await budget.take(60)
        second = asyncio.create_task(budget.take(60))
        await asyncio.sleep(0.01)
        assert not second.done(), "60 + 60 bytes do not fit in 100"
        await budget.give(first)
        assert await second == 60
        huge = asyncio.create_task(budget.take(1_000))
        await asyncio.sleep(0.01)
        assert not huge.done(), "a body larger than the budget waits for all of it"
        await budget.give(60)
        assert await huge == 100 and budget.free == 0

    asyncio.run(scenario())


def test_a_body_is_counted_at_its_declared_size_compressed_ones_larger() -> None:
    from starlette.requests import Request

    from trellis.collector.otlp_http import COMPRESSION_GUESS, expected_bytes

    def request(*headers: tuple[bytes, bytes]) -> Request:
        return Request({"type": "http", "headers": list(headers)})

    assert expected_bytes(request((b"content-length", b"1000")), 10**9) == 1000
    gzip_body = request((b"content-length", b"1000"), (b"content-encoding", b"gzip"))
    assert expected_bytes(gzip_body, 10**9) == 1000 * COMPRESSION_GUESS
    assert expected_bytes(request(), 5_000) == 5_000  # a streamed body may be as large as the limit
    assert expected_bytes(request((b"content-length", b"99999999")), 5_000) == 5_000
