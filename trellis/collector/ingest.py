"""What the HTTP and gRPC receivers share once an export is decoded (``decoding``, ``decode_pool``).

A receiver only speaks its transport; this module decides what a decoded
export means: what was rejected, how it reaches the store, and what the
``Export*ServiceResponse`` says.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future
from typing import Any

import duckdb
import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from trellis.collector.batch import ExportBatch, Signal
from trellis.collector.messages import first_line
from trellis.collector.store import Store

log = logging.getLogger("trellis.ingest")

RESPONSE_TYPES: dict[Signal, Any] = {
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
    "traces": ExportTraceServiceResponse,
}
REJECTED_FIELD: dict[Signal, str] = {
    "metrics": "rejected_data_points",
    "logs": "rejected_log_records",
    "traces": "rejected_spans",
}
_REJECTED_JSON: dict[Signal, str] = {
    "metrics": "rejectedDataPoints",
    "logs": "rejectedLogRecords",
    "traces": "rejectedSpans",
}

DECODE_THREADS = min(os.cpu_count() or 2, 4)
"""How many exports a receiver decodes at once. Decoding is Python work that holds the GIL:
more threads than cores only add decoded exports waiting in memory, and contention, not speed."""


CONTENT_ERRORS: tuple[type[Exception], ...] = (
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.ConstraintException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    pa.ArrowInvalid,
    pa.ArrowTypeError,
)
"""Why a store refuses an export because of what it holds: sending it again changes nothing, so the
sender gets a final answer (400, gRPC INVALID_ARGUMENT), never a retryable one."""


def refused_for_content(exc: BaseException) -> str | None:
    """When the store failed an export because of its content: why, in one line; None otherwise."""
    if isinstance(exc, CONTENT_ERRORS):
        return f"the export cannot be stored: {first_line(exc)}"
    return None


def submit(store: Store, batch: ExportBatch) -> Future[None]:
    """Queue a decoded export; raises QueueFull when the store is saturated."""
    if batch.rejected.count:
        log.info("rejected %d %s items: %s", batch.rejected.count, batch.signal, batch.rejected.message)
    elif batch.rejected.reasons:
        log.info("stored a %s export with a warning: %s", batch.signal, batch.rejected.message)
    return store.submit(batch)


def rejection(batch: ExportBatch) -> tuple[int, str]:
    """How many items the response reports as rejected, and why."""
    count, message = batch.rejected.count, batch.rejected.message
    projection = batch.projection_rejected
    if projection.count:
        count += projection.count
        note = f"{projection.message} (kept in otel_logs, not projected)"
        message = f"{message}; {note}" if message else note
    return count, message


def response_message(batch: ExportBatch) -> Any:
    """The protobuf Export*ServiceResponse for a stored batch."""
    response = RESPONSE_TYPES[batch.signal]()
    count, message = rejection(batch)
    if count or message:
        setattr(response.partial_success, REJECTED_FIELD[batch.signal], count)
        response.partial_success.error_message = message
    return response


def response_json(batch: ExportBatch) -> dict[str, Any]:
    """The OTLP JSON Export*ServiceResponse for a stored batch."""
    count, message = rejection(batch)
    if not count and not message:
        return {}
    return {"partialSuccess": {_REJECTED_JSON[batch.signal]: str(count), "errorMessage": message}}
