"""The compiled metrics decoder (``otlp_wire``) gives the ExportBatch that ``otlp_proto`` gives, or leaves the
body to it: on receiver-shaped exports, random gauges and sums of every attribute type, shapes it leaves to
``otlp_proto`` (histograms, summaries, exemplars, duplicate keys), the official examples, and damaged bodies."""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.collector.otlp_payloads import example_protobuf
from trellis.collector import otlp_proto, otlp_wire
from trellis.collector.batch import ExportBatch
from trellis.collector.decode_errors import PayloadError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import ingest  # the benchmark's export builders


@pytest.fixture(scope="module", autouse=True)
def compiled() -> None:
    assert otlp_wire.warm_up(), "the compiled decoder did not load"


def protobuf_decode(body: bytes, monkeypatch: pytest.MonkeyPatch) -> ExportBatch:
    """What ``otlp_proto`` gives without the compiled decoder."""
    with monkeypatch.context() as m:
        m.setattr(otlp_wire, "decode_metrics", lambda body: None)
        return otlp_proto.decode("metrics", body)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def assert_same(fast: ExportBatch, full: ExportBatch) -> None:
    assert (fast.signal, fast.accepted) == (full.signal, full.accepted)
    assert (fast.rejected.count, fast.rejected.reasons) == (full.rejected.count, full.rejected.reasons)
    assert list(fast.tables) == list(full.tables)
    for name, table in fast.tables.items():
        assert table.schema == full.tables[name].schema
        for column in table.column_names:
            assert _plain(table[column].to_pylist()) == _plain(full.tables[name][column].to_pylist()), column
    assert fast.resources.equals(full.resources)
    assert fast.projections == full.projections


def both(body: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[ExportBatch | None, ExportBatch]:
    return otlp_wire.decode_metrics(body), protobuf_decode(body, monkeypatch)


@pytest.mark.parametrize("per_metric", [1, 2, 5, 50])
def test_receiver_shaped_exports_decode_identically(per_metric: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for client, seq in [(0, 0), (0, 1), (3, 0)]:
        body = ingest.receiver_request(client, seq, 2_000, per_metric).SerializeToString()
        for _ in range(2):  # the second time, every series id is a known one
            fast, full = both(body, monkeypatch)
            assert fast is not None
            assert_same(fast, full)


def test_the_default_benchmark_export_decodes_identically(monkeypatch: pytest.MonkeyPatch) -> None:
    body = ingest.metrics_request(1, 2, 10, 2_000).SerializeToString()
    fast, full = both(body, monkeypatch)
    assert fast is not None
    assert_same(fast, full)


def _any(rnd: random.Random, depth: int = 0) -> AnyValue:
    kind = rnd.choice(["s", "s", "s", "i", "d", "b", "bytes", "arr", "kv", "empty", "nan", "unicode"])
    if depth > 1 and kind in ("arr", "kv"):
        kind = "s"
    if kind == "s":
        return AnyValue(string_value=rnd.choice(["", "GET", "POST", "/a/{id}", "x" * rnd.randrange(40)]))
    if kind == "unicode":
        return AnyValue(string_value=rnd.choice(["é", "日本", "🙂", "a\u0000b"]))
    if kind == "i":
        return AnyValue(int_value=rnd.choice([0, -1, 200, 2**63 - 1, -(2**63)]))
    if kind == "d":
        return AnyValue(double_value=rnd.choice([0.0, -0.0, 2.5, 1e300, float("inf")]))
    if kind == "nan":
        return AnyValue(double_value=float("nan"))
    if kind == "b":
        return AnyValue(bool_value=rnd.random() < 0.5)
    if kind == "bytes":
        return AnyValue(bytes_value=bytes(rnd.randrange(256) for _ in range(rnd.randrange(5))))
    if kind == "arr":
        value = AnyValue()
        value.array_value.values.extend(_any(rnd, depth + 1) for _ in range(rnd.randrange(3)))
        return value
    if kind == "kv":
        value = AnyValue()
        value.kvlist_value.values.extend(_kvs(rnd, rnd.randrange(3), depth + 1))
        return value
    return AnyValue()


def _kvs(rnd: random.Random, n: int, depth: int = 0, duplicates: bool = False) -> list[KeyValue]:
    keys = rnd.sample(["a", "b", "c", "d", "http.route", "k8s.pod.name", "service.name", "é"], n)
    if duplicates and keys:
        keys.append(keys[0])
    return [KeyValue(key=key, value=_any(rnd, depth)) for key in keys]


def random_request(rnd: random.Random, odd: bool = False) -> ExportMetricsServiceRequest:
    """Gauges and sums with random resources, scopes and points; with ``odd``, now and then a shape the
    compiled decoder leaves to ``otlp_proto``."""
    request = ExportMetricsServiceRequest()
    attribute_sets = [_kvs(rnd, rnd.randrange(4)) for _ in range(4)]
    for _ in range(rnd.randrange(1, 4)):
        rm = request.resource_metrics.add()
        if rnd.random() < 0.9:
            rm.resource.attributes.extend(_kvs(rnd, rnd.randrange(5), duplicates=odd and rnd.random() < 0.1))
        if rnd.random() < 0.3:
            rm.schema_url = "https://opentelemetry.io/schemas/1.26.0"
        if rnd.random() < 0.2:
            rm.resource.dropped_attributes_count = 2
        for _ in range(rnd.randrange(1, 3)):
            sm = rm.scope_metrics.add()
            if rnd.random() < 0.8:
                sm.scope.name, sm.scope.version = rnd.choice([("lib", "1.0"), ("", ""), ("otelcol/x", "")])
                if rnd.random() < 0.3:
                    sm.scope.attributes.extend(_kvs(rnd, 2))
            if rnd.random() < 0.3:
                sm.schema_url = "https://example.com/s"
            for _ in range(rnd.randrange(0, 5)):
                metric = sm.metrics.add(name=rnd.choice(["m", "k8s.pod.cpu.time", "", "日本"]))
                if rnd.random() < 0.5:
                    metric.unit = rnd.choice(["s", "By", "{cpu}", ""])
                if rnd.random() < 0.5:
                    metric.description = rnd.choice(["what it is", ""])
                kind = rnd.choice(["gauge", "sum", "sum"] + (["histogram", "summary", "none"] if odd else []))
                if kind == "none":
                    continue
                if kind == "histogram":
                    point = metric.histogram.data_points.add(count=3, sum=1.5, time_unix_nano=5)
                    point.bucket_counts.extend([1, 2])
                    point.explicit_bounds.append(1.0)
                    continue
                if kind == "summary":
                    metric.summary.data_points.add(count=1, sum=2.0)
                    continue
                data: Any = getattr(metric, kind)
                if kind == "sum":
                    data.aggregation_temporality = rnd.choice([0, 1, 2])
                    data.is_monotonic = rnd.random() < 0.5
                data.SetInParent()  # even with no points
                for _ in range(rnd.randrange(0, 6)):
                    point = data.data_points.add()
                    if rnd.random() < 0.8:
                        point.time_unix_nano = rnd.choice([1, 1_700_000_000_000_000_000, 2**63 - 1])
                    if rnd.random() < 0.5:
                        point.start_time_unix_nano = 1_600_000_000_000_000_000
                    value = rnd.choice(["int", "double", "double", "nan", "none"])
                    if value == "int":
                        point.as_int = rnd.choice([0, -5, 2**53 + 1, 2**63 - 1, -(2**63)])
                    elif value in ("double", "nan"):
                        point.as_double = float("nan") if value == "nan" else rnd.choice([0.0, -1.25, 1e-300])
                    point.flags = 1 if value == "none" or rnd.random() < 0.1 else 0
                    point.attributes.extend(rnd.choice(attribute_sets))
                    if odd and rnd.random() < 0.05:
                        point.exemplars.add(time_unix_nano=3, as_double=1.0)
    return request


def test_random_gauges_and_sums_decode_identically(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(7)
    for _ in range(300):
        body = random_request(rnd).SerializeToString()
        fast, full = both(body, monkeypatch)
        assert fast is not None
        assert_same(fast, full)


def test_shapes_left_to_protobuf_decode_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(11)
    left = 0
    for _ in range(300):
        body = random_request(rnd, odd=True).SerializeToString()
        fast, full = both(body, monkeypatch)
        if fast is None:
            left += 1
            fast = otlp_proto.decode("metrics", body)
        assert_same(fast, full)
    assert 30 < left < 300


def test_official_metrics_example_decodes_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    body = example_protobuf("metrics")
    assert_same(otlp_proto.decode("metrics", body), protobuf_decode(body, monkeypatch))


def _damaged(rnd: random.Random, body: bytes) -> Iterator[bytes]:
    for _ in range(40):
        data = bytearray(body)
        at = rnd.randrange(len(data))
        change = rnd.choice(["flip", "delete", "insert"])
        if change == "flip":
            data[at] = rnd.randrange(256)
        elif change == "delete":
            del data[at : at + rnd.randrange(1, 4)]
        else:
            data[at:at] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4)))
        yield bytes(data)


def test_damaged_bodies_get_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random bytes changed, deleted or inserted: the same batch, or the same error."""
    rnd = random.Random(3)
    for _ in range(30):
        for body in _damaged(rnd, random_request(rnd).SerializeToString()):
            try:
                full: ExportBatch | str = protobuf_decode(body, monkeypatch)
            except PayloadError as exc:
                full = str(exc)
            try:
                fast: ExportBatch | str = otlp_proto.decode("metrics", body)
            except PayloadError as exc:
                fast = str(exc)
            if isinstance(full, str) or isinstance(fast, str):
                assert fast == full
            else:
                assert_same(fast, full)


def test_series_ids_are_the_same_once_the_known_ones_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    body = ingest.receiver_request(5, 0, 500, 5).SerializeToString()
    first = otlp_wire.decode_metrics(body)
    monkeypatch.setattr(otlp_wire, "_known", otlp_wire._Known())
    again = otlp_wire.decode_metrics(body)
    assert first is not None and again is not None
    assert_same(again, first)


def test_it_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otlp_wire, "_kernels", None)
    monkeypatch.setattr(otlp_wire, "_warming", None)
    monkeypatch.setenv("TRELLIS_WIRE_DECODER", "0")
    assert otlp_wire.decode_metrics(ingest.receiver_request(0, 0, 10, 1).SerializeToString()) is None
    assert otlp_wire._warming is None
