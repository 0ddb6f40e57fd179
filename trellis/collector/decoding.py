"""An export body into an ``ExportBatch``: one decoder per wire format, and one error for what cannot be
stored. Light on purpose: decoding processes import this and nothing of the server's."""

from __future__ import annotations

import pyarrow as pa

from trellis.collector import otlp_json, otlp_proto
from trellis.collector.batch import ExportBatch, Signal
from trellis.collector.decode_errors import PayloadError
from trellis.collector.messages import first_line

DECODERS = {"protobuf": otlp_proto.decode, "json": otlp_json.decode}
"""One decoder per wire format: ``decode(signal, body) -> ExportBatch``."""


def decode(signal: Signal, wire_format: str, body: bytes) -> ExportBatch:
    """Decode an export body; raises PayloadError when it cannot be read or its values cannot be stored."""
    try:
        return DECODERS[wire_format](signal, body)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise PayloadError(f"the export holds values that cannot be stored: {first_line(exc)}") from None


__all__ = ["DECODERS", "decode"]
