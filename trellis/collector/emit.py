"""Sending one deployment or incident event with the OpenTelemetry SDK, for CI pipelines."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from trellis.collector.events import DEPLOYMENT_EVENT, INCIDENT_EVENT


class EmitError(RuntimeError):
    """The event could not be delivered to the collector."""


class _Recording(LogRecordExporter):
    """Passes records to the real exporter and remembers whether it succeeded."""

    def __init__(self, inner: LogRecordExporter) -> None:
        self.inner = inner
        self.result: LogRecordExportResult | None = None

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.result = self.inner.export(batch)
        return self.result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def send_event(
    endpoint: str,
    token: str | None,
    event_name: str,
    resource: dict[str, str],
    attributes: dict[str, Any],
    timestamp_ns: int | None = None,
) -> None:
    """Export one event log record over OTLP/HTTP and wait for the collector's answer."""
    _check_reachable(endpoint)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    exporter = _Recording(OTLPLogExporter(endpoint=f"{endpoint.rstrip('/')}/v1/logs", headers=headers, timeout=30))
    provider = LoggerProvider(resource=Resource.create({k: v for k, v in resource.items() if v}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("trellis.emit")
    clean = {k: v for k, v in attributes.items() if v not in (None, [], "")}
    logger.emit(event_name=event_name, attributes=clean, timestamp=timestamp_ns or time.time_ns(), body=event_name)
    provider.shutdown()
    if exporter.result != LogRecordExportResult.SUCCESS:
        raise EmitError(f"the collector at {endpoint} did not accept the {event_name} event")


def _check_reachable(endpoint: str) -> None:
    """Fail at once, in one line, when nothing listens at the endpoint: the exporter would retry
    for half a minute and then only say that the event was not accepted."""
    url = urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", port), timeout=5).close()
    except OSError as exc:
        raise EmitError(f"cannot reach the collector at {endpoint}: {exc.strerror or exc}") from None


__all__ = ["DEPLOYMENT_EVENT", "INCIDENT_EVENT", "EmitError", "send_event"]
