"""OTLP protobuf values as the collector stores them: an AnyValue as a Python value, attributes as
(key, text) pairs. Shared by both protobuf decoders (``otlp_proto`` and ``otlp_wire``)."""

from __future__ import annotations

from typing import Any

from trellis.collector import rows as r


def any_value(value: Any) -> Any:
    """The Python value of an OTLP AnyValue."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        import base64

        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def _attribute_text(value: Any) -> str:
    """``attribute_text(any_value(value))``, with a short way for strings, which nearly all attributes are."""
    text: str = value.string_value
    if text or value.WhichOneof("value") == "string_value":
        return text
    return r.attribute_text(any_value(value))


def attribute_key(kvs: Any) -> r.AttributeKey:
    """Attributes as a tuple of (key, text) pairs, for the per-row ``attributes`` column."""
    return tuple([(kv.key, _attribute_text(kv.value)) for kv in kvs])


def attributes(kvs: Any) -> r.Attributes:
    return [(kv.key, _attribute_text(kv.value)) for kv in kvs]


__all__ = ["any_value", "attribute_key", "attributes"]
