"""What every signal the simulator sends carries: its instrumentation scope, and attributes as OTLP protobuf.

``SCOPE_NAME`` also tells the simulator's rows apart in a collector's tables (an interrupted backfill,
a second one refused).
"""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

SCOPE_NAME = "trellis.simulate"
SCOPE_VERSION = "1"


def key_value(key: str, value: str | int | float | bool) -> KeyValue:
    """An OTLP attribute: the value as the AnyValue of its type."""
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


__all__ = ["SCOPE_NAME", "SCOPE_VERSION", "key_value"]
