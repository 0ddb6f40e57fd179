"""Pipeline traces and deployment and incident events, through the OpenTelemetry SDK with explicit timestamps.

A ``LoggerProvider`` per resource emits the ``trellis.deployment`` and ``trellis.incident`` records
(events.md), and a ``TracerProvider`` per team records each pipeline run as a trace (``deploy <workload>``
with ``resolve resources``, ``build`` and ``rollout``), ids drawn from the seed. The records are collected
in memory (``Signals``) and handed to the OTLP exporters in batches (``send``), for the history
(``history_signals``) and the live stream alike.

Everything here is a function of the plan: the same plan gives the same records.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from trellis.collector import DEPLOYMENT_EVENT, INCIDENT_EVENT
from trellis.simulator.otlp import SCOPE_NAME, SCOPE_VERSION
from trellis.simulator.plan import NS, Deployment, Incident, Plan


def rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Collect(LogRecordExporter, SpanExporter):
    """An exporter that keeps what the SDK hands it, for batching or comparing."""

    def __init__(self) -> None:
        self.logs: list[ReadableLogRecord] = []
        self.spans: list[ReadableSpan] = []

    def export(self, batch: Sequence[Any]) -> Any:
        if batch and isinstance(batch[0], ReadableSpan):
            self.spans.extend(batch)
            return SpanExportResult.SUCCESS
        self.logs.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class SeededIds(IdGenerator):
    """Trace and span ids from a seeded generator, so the same plan gives the same traces."""

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def generate_span_id(self) -> int:
        return self.rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.rng.getrandbits(128) or 1


class Signals:
    """SDK providers that collect instead of exporting: one tracer provider per team, loggers per resource."""

    def __init__(self, seed: str) -> None:
        self.collect = Collect()
        self.ids = SeededIds(seed)
        self._tracers: dict[str, trace_api.Tracer] = {}
        self._loggers: dict[tuple[str, ...], Any] = {}

    def tracer(self, app: str) -> trace_api.Tracer:
        if app not in self._tracers:
            resource = Resource({"service.name": "ci-pipeline", "service.namespace": app})
            provider = TracerProvider(resource=resource, id_generator=self.ids, shutdown_on_exit=False)
            provider.add_span_processor(SimpleSpanProcessor(self.collect))
            self._tracers[app] = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)
        return self._tracers[app]

    def logger(self, service: str, namespace: str, version: str | None = None) -> Any:
        """A logger whose resource is the workload (and the version deployed, for deployment events)."""
        key = (service, namespace, version or "")
        if key in self._loggers:
            return self._loggers[key]
        attributes = {"service.name": service, "service.namespace": namespace}
        if version:
            attributes["service.version"] = version
        provider = LoggerProvider(resource=Resource(attributes), shutdown_on_exit=False)
        provider.add_log_record_processor(SimpleLogRecordProcessor(self.collect))
        logger = provider.get_logger(SCOPE_NAME, SCOPE_VERSION)
        if not version:  # each version is deployed a few times at most: not worth keeping
            self._loggers[key] = logger
        return logger

    def take(self) -> tuple[list[ReadableSpan], list[ReadableLogRecord]]:
        spans, logs = self.collect.spans, self.collect.logs
        self.collect.spans, self.collect.logs = [], []
        return spans, logs


def deployment_attributes(d: Deployment) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "deployment.id": d.id,
        "deployment.name": f"{d.workload} {d.version}",
        "deployment.status": d.status,
        "deployment.environment.name": d.env,
        "trellis.change.first_commit_time": rfc3339(d.first_commit),
        "vcs.ref.head.revision": d.revision,
        "vcs.repository.url.full": f"https://git.example.internal/{d.app}/{d.workload}",
        "cicd.pipeline.name": f"deploy-{d.env}",
        "cicd.pipeline.run.id": d.run_id,
    }
    if d.resources:
        attributes["trellis.resources"] = list(d.resources)
    return attributes


def pipeline(signals: Signals, d: Deployment) -> trace_api.SpanContext:
    """The pipeline run of a deployment as a trace; returns the root span's context."""
    tracer = signals.tracer(d.app)
    common = {
        "cicd.pipeline.name": f"deploy-{d.env}",
        "cicd.pipeline.run.id": d.run_id,
        "deployment.id": d.id,
        "deployment.environment.name": d.env,
        "trellis.workload": d.workload,
    }
    root = tracer.start_span(f"deploy {d.workload}", kind=SpanKind.INTERNAL, attributes=common, start_time=d.started)
    context = trace_api.set_span_in_context(root)
    duration = d.finished - d.started
    resolved = d.started + min(2 * NS, duration // 10)
    span = tracer.start_span("resolve resources", context=context, start_time=d.started)
    if d.blocked is not None:
        span.set_status(Status(StatusCode.ERROR, d.blocked))
        span.end(end_time=resolved)
        root.set_status(Status(StatusCode.ERROR, "the catalog could not serve the workload"))
        root.end(end_time=resolved)
        return root.get_span_context()
    span.set_attribute("trellis.resources", list(d.resources or []))
    span.end(end_time=resolved)
    built = resolved + int(duration * 0.55)
    tracer.start_span("build", context=context, start_time=resolved).end(end_time=built)
    rollout = tracer.start_span("rollout", context=context, start_time=built)
    if d.status == "failed":
        rollout.set_status(Status(StatusCode.ERROR, "rollout failed; rolled back"))
        root.set_status(Status(StatusCode.ERROR, "deployment failed"))
    rollout.end(end_time=d.finished)
    root.end(end_time=d.finished)
    return root.get_span_context()


def emit_deployment(signals: Signals, d: Deployment, span: trace_api.SpanContext | None) -> None:
    logger = signals.logger(d.workload, d.app, d.version)
    context = trace_api.set_span_in_context(trace_api.NonRecordingSpan(span)) if span is not None else None
    logger.emit(
        event_name=DEPLOYMENT_EVENT,
        body=DEPLOYMENT_EVENT,
        attributes=deployment_attributes(d),
        timestamp=d.finished,
        observed_timestamp=d.finished + 1_500_000_000,
        context=context,
    )


def emit_incident(signals: Signals, incident: Incident, status: str, at: int) -> None:
    logger = signals.logger(incident.workload, incident.app)
    attributes = {
        "incident.id": incident.id,
        "incident.status": status,
        "deployment.environment.name": incident.env,
    }
    if status == "opened":
        attributes["trellis.caused_by.deployment_id"] = incident.caused_by
    logger.emit(
        event_name=INCIDENT_EVENT,
        body=INCIDENT_EVENT,
        attributes=attributes,
        timestamp=at,
        observed_timestamp=at + 2_000_000_000,
    )


def history_signals(plan: Plan) -> tuple[list[ReadableSpan], list[ReadableLogRecord]]:
    """Every pipeline trace, and the deployment and incident events of the plan that no webhook reports."""
    signals = Signals(f"{plan.seed}:ids")
    for d in plan.deployments:
        context = pipeline(signals, d)
        if d.happened and d.via is None:
            emit_deployment(signals, d, context)
    for incident in (i for i in plan.live_incidents() if i.via is None):
        emit_incident(signals, incident, "opened", incident.opened)
        if incident.resolved is not None and incident.resolved < plan.end:
            emit_incident(signals, incident, "resolved", incident.resolved)
    return signals.take()


__all__ = [
    "Collect",
    "SeededIds",
    "Signals",
    "deployment_attributes",
    "emit_deployment",
    "emit_incident",
    "history_signals",
    "pipeline",
    "rfc3339",
]
