"""Row building helpers: the garbage collector pause, resources stored once, known series ids."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pyarrow as pa
import pytest

from tests.collector.otlp_payloads import example_dict, to_protobuf
from trellis.collector import otlp_proto, resources, rows
from trellis.collector.schema import RESOURCE_NAMES, arrow_schema, resource_id


@pytest.fixture
def gc_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_while_any_decode_runs_and_back_after_the_last(gc_enabled: None) -> None:
    with rows.gc_paused():
        assert not gc.isenabled()
        with rows.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "another decode still runs"
    assert gc.isenabled()


def test_overlapping_decodes_collect_young_generations_each_second_and_all_each_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(rows.time, "monotonic", lambda: clock[0])
    state = rows._GcPause()
    assert state.due() == 1  # created at 1000, "since" is 0: overdue
    assert state.due() is None
    clock[0] += 1.5
    assert state.due() == 1
    clock[0] += 61
    assert state.due() == 2
    clock[0] += 1.5
    assert state.due() == 1


def test_rows_split_into_stored_rows_and_resources_join_back_unchanged() -> None:
    schema = arrow_schema("otel_logs")
    given = pa.Table.from_pylist(
        [
            {"service_name": "a", "resource_attributes": {"service.name": "a"}, "body": "1"},
            {"service_name": "b", "resource_attributes": {"service.name": "b"}, "body": "2"},
            {"service_name": "a", "resource_attributes": {"service.name": "a"}, "body": "3"},
        ],
        schema=schema,
    )
    stored, distinct = resources.split("otel_logs", given)

    assert "service_name" not in stored.column_names
    assert distinct.num_rows == 2
    expected_a = [None] * len(RESOURCE_NAMES)
    expected_a[0], expected_a[RESOURCE_NAMES.index("resource_attributes")] = "a", [("service.name", "a")]
    assert stored["resource_id"].to_pylist()[0] == resource_id(expected_a)
    assert resources.join("otel_logs", stored, distinct).equals(given)


def test_joining_rows_whose_resource_is_missing_is_refused() -> None:
    stored, distinct = resources.split(
        "otel_logs", pa.Table.from_pylist([{"body": "x"}], schema=arrow_schema("otel_logs"))
    )
    with pytest.raises(ValueError, match="1 rows of otel_logs refer to a resource that is not given"):
        resources.join("otel_logs", stored, distinct.slice(0, 0))


def _series_ids(body: bytes) -> list[int]:
    batch = otlp_proto.decode("metrics", body)
    return [i for table in batch.tables.values() for i in table["series_id"].to_pylist()]


def test_known_series_give_the_ids_hashing_gives_also_when_the_memory_starts_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = to_protobuf("metrics", example_dict("metrics"))
    monkeypatch.setattr(rows, "_known_series", rows._KnownSeries())
    hashed = _series_ids(body)
    assert rows._known_series.count == len(set(hashed)) > 1

    assert _series_ids(body) == hashed, "looked up"
    monkeypatch.setattr(rows._KnownSeries, "MAX_SERIES", 2)
    assert _series_ids(body) == hashed, "forgotten on the way and hashed again"
    assert rows._known_series.count <= 2 + 1


def test_rows_with_neither_a_resource_id_nor_the_resource_columns_are_refused_naming_what_is_missing() -> None:
    with pytest.raises(
        ValueError, match="rows for otel_logs have neither resource_id nor the resource columns service_name"
    ):
        resources.split("otel_logs", pa.table({"body": ["x"]}))


def test_series_keys_encode_each_context_once_and_give_series_key_exactly() -> None:
    """Series ids must not depend on which decoder (or shortcut) computed them."""
    keys = rows.SeriesKeys()
    context: list[object] = ["checkout", None, [("k8s.pod.name", "p-1"), ("n", "1.5")], None, "scope", None, [], None]
    other = [*context[:-1], "https://opentelemetry.io/schemas/1.27.0"]
    for ctx in (context, other, context):
        for metric in (("cpu", "s", "sum", 2, True), ("memory", "By", "gauge", 0, False)):
            assert keys.key(ctx, *metric) == rows.series_key(ctx, *metric)
