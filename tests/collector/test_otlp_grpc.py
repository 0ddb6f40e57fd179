"""OTLP/gRPC against a running collector: the examples, compression, bad bytes and tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from tests.collector.otlp_payloads import (
    assert_example_stored,
    example_message,
    example_protobuf,
    example_signal,
    logs_request,
    metrics_request,
    row_counts,
    to_message,
    unique,
)
from tests.conftest import EXAMPLE_SIGNALS, TOKENS, bearer
from trellis.testing import RunningCollector, start_collector

pytestmark = pytest.mark.slow

STUBS = {"metrics": MetricsServiceStub, "logs": LogsServiceStub, "traces": TraceServiceStub}
METHODS = {
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
}
TIMEOUT = 20


@pytest.fixture(scope="module")
def channel(collector: RunningCollector) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(collector.otlp_grpc) as ch:
        yield ch


def export(channel: grpc.Channel, signal: str, request: Any, **kwargs: Any) -> Any:
    return STUBS[signal](channel).Export(request, timeout=TIMEOUT, **kwargs)


def export_raw(channel: grpc.Channel, signal: str, body: bytes) -> bytes:
    """Send bytes as they are: no serializer in the way."""
    call = channel.unary_unary(METHODS[signal], request_serializer=None, response_deserializer=None)
    result: bytes = call(body, timeout=TIMEOUT)
    return result


@pytest.mark.parametrize("compression", [None, grpc.Compression.Gzip], ids=["plain", "gzip"])
@pytest.mark.parametrize("name", EXAMPLE_SIGNALS)
def test_official_example_is_stored_completely(
    collector: RunningCollector, channel: grpc.Channel, name: str, compression: grpc.Compression | None
) -> None:
    service = unique(name)

    response = export(channel, example_signal(name), example_message(name, service), compression=compression)

    assert not response.HasField("partial_success")
    assert response.SerializeToString() == b""
    assert_example_stored(collector.api, name, service)


def test_a_gzip_channel_stores_the_example(collector: RunningCollector) -> None:
    service = unique("gzip-channel")
    with grpc.insecure_channel(collector.otlp_grpc, compression=grpc.Compression.Gzip) as ch:
        export(ch, "traces", example_message("trace", service))
    assert_example_stored(collector.api, "trace", service)


def test_raw_bytes_of_an_example_are_stored(collector: RunningCollector, channel: grpc.Channel) -> None:
    service = unique("raw")

    answer = export_raw(channel, "logs", example_protobuf("events", service))

    assert answer == b""
    assert_example_stored(collector.api, "events", service)


def test_a_point_without_value_is_reported_as_partial_success(
    collector: RunningCollector, channel: grpc.Channel
) -> None:
    metric = unique("metric")
    points = [{"asDouble": 1.0, "timeUnixNano": "1"}, {"timeUnixNano": "2"}]
    request = to_message("metrics", metrics_request(points, name=metric, service_name=unique()))

    response = export(channel, "metrics", request)

    assert response.partial_success.rejected_data_points == 1
    assert response.partial_success.error_message == f"metric '{metric}': a data point has no value"
    assert ExportMetricsServiceResponse.FromString(response.SerializeToString()) == response


@pytest.mark.parametrize(
    ("signal", "body", "problem"),
    [
        ("metrics", b"\xff\xff\xff\xff", "not a valid OTLP protobuf metrics export"),
        ("traces", json.dumps({"resourceSpans": []}).encode(), "not a valid OTLP protobuf traces export"),
        ("logs", example_protobuf("logs")[:-9], "not a valid OTLP protobuf logs export"),
        ("logs", to_message("logs", logs_request([{"severityNumber": 999}])).SerializeToString(), "999"),
    ],
    ids=["garbage", "json", "truncated", "out-of-range"],
)
def test_undecodable_bytes_get_invalid_argument(
    collector: RunningCollector, channel: grpc.Channel, signal: str, body: bytes, problem: str
) -> None:
    before = row_counts(collector.api)

    with pytest.raises(grpc.RpcError) as error:
        export_raw(channel, signal, body)

    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert problem in error.value.details()  # type: ignore[attr-defined]
    assert row_counts(collector.api) == before


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, tokens_file: Path) -> Iterator[RunningCollector]:
    """A collector that needs tokens."""
    running = start_collector(
        tmp_path_factory.mktemp("grpc-tokens") / "trellis.duckdb",
        "--tokens-file",
        str(tokens_file),
        headers=bearer("admin"),
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def guarded_channel(guarded: RunningCollector) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(guarded.otlp_grpc) as ch:
        yield ch


def _auth(name: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {TOKENS[name][0]}")]


@pytest.mark.parametrize(
    ("metadata", "code", "details"),
    [
        ([], grpc.StatusCode.UNAUTHENTICATED, "a bearer token is required"),
        ([("authorization", "Bearer tok-unknown-0000000000")], grpc.StatusCode.UNAUTHENTICATED, "not valid"),
        ([("authorization", TOKENS["ingester"][0])], grpc.StatusCode.UNAUTHENTICATED, "not valid"),
        (_auth("reader"), grpc.StatusCode.PERMISSION_DENIED, "token 'reader' lacks the 'ingest' scope"),
        (_auth("approver"), grpc.StatusCode.PERMISSION_DENIED, "token 'approver' lacks the 'ingest' scope"),
    ],
    ids=["none", "unknown", "no-bearer-scheme", "read-only", "approve-and-read"],
)
def test_exports_without_an_ingest_token_are_refused(
    guarded: RunningCollector,
    guarded_channel: grpc.Channel,
    metadata: list[tuple[str, str]],
    code: grpc.StatusCode,
    details: str,
) -> None:
    before = row_counts(guarded.api, bearer("admin"))

    with pytest.raises(grpc.RpcError) as error:
        export(guarded_channel, "traces", example_message("trace", unique()), metadata=metadata)

    assert error.value.code() == code  # type: ignore[attr-defined]
    assert details in error.value.details()  # type: ignore[attr-defined]
    assert row_counts(guarded.api, bearer("admin")) == before


@pytest.mark.parametrize("holder", ["ingester", "admin"])
@pytest.mark.parametrize("name", EXAMPLE_SIGNALS)
def test_exports_with_an_ingest_token_are_stored(
    guarded: RunningCollector, guarded_channel: grpc.Channel, name: str, holder: str
) -> None:
    service = unique(name)

    response = export(guarded_channel, example_signal(name), example_message(name, service), metadata=_auth(holder))

    assert not response.HasField("partial_success")
    assert_example_stored(guarded.api, name, service, bearer("reader"))
