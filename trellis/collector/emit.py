"""Sending one deployment or incident event with the OpenTelemetry SDK, for CI pipelines."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

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


__all__ = ["DEPLOYMENT_EVENT", "INCIDENT_EVENT", "EmitError", "send_event"]
