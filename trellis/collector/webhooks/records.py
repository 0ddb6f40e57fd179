"""What a delivery becomes in the store: event log records projected as OTLP events are, its changes, and
its own row in ``webhook_deliveries``, all in one batch for the store's single writer.

The events are built as an OTLP/JSON logs export and decoded by the OTLP/JSON decoder, so they reach
``otel_logs``, ``deployments`` and ``incidents`` by the very path an exporter's events take.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pyarrow as pa

from trellis.collector import otlp_json
from trellis.collector.batch import ExportBatch
from trellis.collector.webhooks.connectors import Workload
from trellis.collector.webhooks.receiver import Change, Event, PayloadUnreadable

_TS = pa.timestamp("ns", tz="UTC")
DELIVERIES_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("delivery_id", pa.string()),
        ("event", pa.string()),
        ("received_at", _TS),
        ("outcome", pa.string()),
        ("reason", pa.string()),
        ("records", pa.int32()),
    ]
)
CHANGES_SCHEMA = pa.schema(
    [("repository", pa.string()), ("revision", pa.string()), ("first_commit_at", _TS), ("source", pa.string())]
)
OUTCOMES = ("accepted", "unmapped", "ignored", "refused")

WEBHOOK_SQL = {
    "webhook_deliveries": "INSERT INTO webhook_deliveries SELECT * FROM projection",
    "webhook_changes": """
        INSERT INTO webhook_changes SELECT * FROM projection
        ON CONFLICT (repository, revision) DO UPDATE SET
            first_commit_at = least(excluded.first_commit_at, webhook_changes.first_commit_at)""",
}
"""How the writer stores a delivery's rows: every delivery is a row; a revision keeps its earliest first commit."""

MAX_TEXT = 200
"""Longest delivery id or event name kept: they come from headers anyone can send."""


@dataclass(frozen=True)
class Delivery:
    """One request to a webhook receiver, as ``webhook_deliveries`` records it."""

    source: str
    delivery_id: str | None
    event: str | None
    received_at: int
    """Nanoseconds since the epoch."""


def outcome_batch(delivery: Delivery, outcome: str, reason: str | None, records: int = 0) -> ExportBatch:
    """A batch that records only what became of a delivery."""
    batch = ExportBatch("logs")
    _record(batch, delivery, outcome, reason, records)
    return batch


def accepted_batch(delivery: Delivery, events: list[tuple[Event, Workload]], changes: list[Change]) -> ExportBatch:
    """The delivery's events as OTLP would bring them, its changes, and its row; PayloadUnreadable when an event
    breaks the events contract."""
    batch = otlp_json.decode("logs", _export(delivery, events)) if events else ExportBatch("logs")
    if batch.projection_rejected.count:
        raise PayloadUnreadable(batch.projection_rejected.message)
    if changes:
        batch.projections["webhook_changes"] = _changes_table(delivery.source, changes)
    _record(batch, delivery, "accepted", None, len(events) + len(changes))
    return batch


def _record(batch: ExportBatch, delivery: Delivery, outcome: str, reason: str | None, records: int) -> None:
    row = {
        "source": delivery.source,
        "delivery_id": _clip(delivery.delivery_id),
        "event": _clip(delivery.event),
        "received_at": delivery.received_at,
        "outcome": outcome,
        "reason": reason,
        "records": records,
    }
    batch.projections["webhook_deliveries"] = pa.Table.from_pylist([row], DELIVERIES_SCHEMA)


def _clip(value: str | None) -> str | None:
    return value if value is None or len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."


def _changes_table(source: str, changes: list[Change]) -> pa.Table:
    """One row per revision (the earliest first commit): an upsert may not meet one key twice."""
    earliest: dict[tuple[str, str], int] = {}
    for change in changes:
        key = (change.repository, change.revision)
        earliest[key] = min(earliest.get(key, change.first_commit_at), change.first_commit_at)
    rows = [{"repository": r, "revision": v, "first_commit_at": t, "source": source} for (r, v), t in earliest.items()]
    return pa.Table.from_pylist(rows, CHANGES_SCHEMA)


def _export(delivery: Delivery, events: list[tuple[Event, Workload]]) -> bytes:
    """An OTLP/JSON logs export holding the events, each under its workload's resource."""
    scope = {"name": f"trellis.webhooks.{delivery.source}"}
    resource_logs = [
        {"resource": {"attributes": _key_values(_resource(workload))}, "scopeLogs": [
            {"scope": scope, "logRecords": [_log_record(delivery, event)]}
        ]}
        for event, workload in events
    ]  # fmt: skip
    return orjson.dumps({"resourceLogs": resource_logs})


def _resource(workload: Workload) -> dict[str, str | None]:
    return {
        "service.name": workload.service_name,
        "service.namespace": workload.service_namespace,
        "deployment.environment.name": workload.environment,
    }


def _log_record(delivery: Delivery, event: Event) -> dict[str, object]:
    attributes = {
        **event.attributes,
        "trellis.webhook.source": delivery.source,
        "trellis.webhook.delivery_id": _clip(delivery.delivery_id),
    }
    return {
        "eventName": event.name,
        "timeUnixNano": str(event.time),
        "observedTimeUnixNano": str(delivery.received_at),
        "body": {"stringValue": event.name},
        "attributes": _key_values(attributes),
    }


def _key_values(values: dict[str, str | None]) -> list[dict[str, object]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in values.items() if v is not None]


__all__ = [
    "CHANGES_SCHEMA",
    "DELIVERIES_SCHEMA",
    "OUTCOMES",
    "WEBHOOK_SQL",
    "Delivery",
    "accepted_batch",
    "outcome_batch",
]
