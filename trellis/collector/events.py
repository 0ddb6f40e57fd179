"""Deployment and incident events: the contract of docs/events.md, projected into tables.

Events are OTLP log records with ``event_name`` ``trellis.deployment`` or
``trellis.incident``. Every record stays in ``otel_logs``; those that keep the
contract are also projected into ``deployments`` and ``incidents``, those that
break it are counted as rejected for the projection and logged with the reason.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from trellis.collector.batch import ExportBatch
from trellis.collector.rows import Rejections

log = logging.getLogger("trellis.events")

DEPLOYMENT_EVENT = "trellis.deployment"
INCIDENT_EVENT = "trellis.incident"
DEPLOYMENT_STATUSES = ("succeeded", "failed")
INCIDENT_STATUSES = ("opened", "resolved")

_TS = pa.timestamp("ns", tz="UTC")
DEPLOYMENTS_SCHEMA = pa.schema(
    [
        ("deployment_id", pa.string()),
        ("deployment_name", pa.string()),
        ("status", pa.string()),
        ("environment", pa.string()),
        ("service_name", pa.string()),
        ("service_namespace", pa.string()),
        ("service_version", pa.string()),
        ("finished_at", _TS),
        ("first_commit_at", _TS),
        ("vcs_revision", pa.string()),
        ("vcs_repository", pa.string()),
        ("pipeline_name", pa.string()),
        ("pipeline_run_id", pa.string()),
        ("resources", pa.list_(pa.string())),
    ]
)
INCIDENTS_SCHEMA = pa.schema(
    [
        ("incident_id", pa.string()),
        ("service_name", pa.string()),
        ("service_namespace", pa.string()),
        ("environment", pa.string()),
        ("opened_at", _TS),
        ("resolved_at", _TS),
        ("caused_by_deployment_id", pa.string()),
    ]
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ContractError(ValueError):
    """An event record that breaks the contract; the message names the attribute."""


def project_events(batch: ExportBatch) -> ExportBatch:
    """Add the deployment and incident projections of a logs batch."""
    logs = batch.tables.get("otel_logs")
    if logs is None:
        return batch
    mask = pc.is_in(logs["event_name"], pa.array([DEPLOYMENT_EVENT, INCIDENT_EVENT]))
    events = batch.rows("otel_logs", keep=pc.fill_null(mask, False))
    if events.num_rows == 0:
        return batch
    for name in ("time", "observed_time"):
        events = events.set_column(events.schema.get_field_index(name), name, events[name].cast(pa.int64()))
    deployments: dict[str, dict[str, Any]] = {}
    incidents: dict[str, dict[str, Any]] = {}
    for record in events.to_pylist():
        _project(record, deployments, incidents, batch.projection_rejected)
    if deployments:
        batch.projections["deployments"] = pa.Table.from_pylist(list(deployments.values()), DEPLOYMENTS_SCHEMA)
    if incidents:
        batch.projections["incidents"] = pa.Table.from_pylist(list(incidents.values()), INCIDENTS_SCHEMA)
    return batch


def _project(
    record: dict[str, Any],
    deployments: dict[str, dict[str, Any]],
    incidents: dict[str, dict[str, Any]],
    rejected: Rejections,
) -> None:
    try:
        if record["event_name"] == DEPLOYMENT_EVENT:
            row = deployment_row(record)
            _keep_latest(deployments, row, "deployment_id", "finished_at")
        else:
            row = incident_row(record)
            _merge_incident(incidents, row)
    except ContractError as exc:
        reason = f"{record['event_name']} event breaks the contract: {exc}"
        rejected.add(reason)
        log.warning("%s", reason)


def _attrs(record: dict[str, Any]) -> dict[str, str]:
    return dict(record["attributes"] or [])


def _required(attrs: dict[str, str], key: str) -> str:
    value = attrs.get(key)
    if not value:
        raise ContractError(f"attribute {key!r} is required")
    return value


def _status(attrs: dict[str, str], key: str, allowed: tuple[str, ...]) -> str:
    value = _required(attrs, key)
    if value not in allowed:
        raise ContractError(f"attribute {key!r} is {value!r}, expected one of {', '.join(allowed)}")
    return value


def _event_time(record: dict[str, Any]) -> Any:
    return record["time"] or record["observed_time"]


def parse_time(text: str, key: str) -> int:
    """Nanoseconds since the epoch from RFC 3339 text or a number of Unix nanoseconds."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ContractError(f"attribute {key!r} is {text!r}, not RFC 3339 or Unix nanoseconds") from None
    if moment.tzinfo is None:
        raise ContractError(f"attribute {key!r} is {text!r}, which has no time zone")
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _string_list(text: str | None, key: str) -> list[str] | None:
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ContractError(f"attribute {key!r} must be a string array")


def deployment_row(record: dict[str, Any]) -> dict[str, Any]:
    """The deployments row of one trellis.deployment record, or ContractError."""
    attrs = _attrs(record)
    first_commit = attrs.get("trellis.change.first_commit_time")
    return {
        "deployment_id": _required(attrs, "deployment.id"),
        "deployment_name": attrs.get("deployment.name"),
        "status": _status(attrs, "deployment.status", DEPLOYMENT_STATUSES),
        "environment": attrs.get("deployment.environment.name") or record["deployment_environment_name"],
        "service_name": record["service_name"],
        "service_namespace": record["service_namespace"],
        "service_version": record["service_version"],
        "finished_at": _event_time(record),
        "first_commit_at": parse_time(first_commit, "trellis.change.first_commit_time") if first_commit else None,
        "vcs_revision": attrs.get("vcs.ref.head.revision"),
        "vcs_repository": attrs.get("vcs.repository.url.full"),
        "pipeline_name": attrs.get("cicd.pipeline.name"),
        "pipeline_run_id": attrs.get("cicd.pipeline.run.id"),
        "resources": _string_list(attrs.get("trellis.resources"), "trellis.resources"),
    }


def incident_row(record: dict[str, Any]) -> dict[str, Any]:
    """The incidents row of one trellis.incident record, or ContractError."""
    attrs = _attrs(record)
    status = _status(attrs, "incident.status", INCIDENT_STATUSES)
    moment = _event_time(record)
    return {
        "incident_id": _required(attrs, "incident.id"),
        "service_name": record["service_name"],
        "service_namespace": record["service_namespace"],
        "environment": attrs.get("deployment.environment.name") or record["deployment_environment_name"],
        "opened_at": moment if status == "opened" else None,
        "resolved_at": moment if status == "resolved" else None,
        "caused_by_deployment_id": attrs.get("trellis.caused_by.deployment_id"),
    }


def _keep_latest(rows: dict[str, dict[str, Any]], row: dict[str, Any], key: str, time: str) -> None:
    """Keep the latest event per id; like the upsert, what it leaves out keeps the earlier value."""
    current = rows.get(row[key])
    if current is None:
        rows[row[key]] = row
    elif (row[time] or 0) >= (current[time] or 0):
        rows[row[key]] = {name: current[name] if value is None else value for name, value in row.items()}


def _merge_incident(rows: dict[str, dict[str, Any]], row: dict[str, Any]) -> None:
    current = rows.setdefault(row["incident_id"], row)
    if current is not row:
        for name, value in row.items():
            if value is not None:
                current[name] = value


UPSERT_SQL = {
    "deployments": """
        INSERT INTO deployments SELECT * FROM projection
        ON CONFLICT (deployment_id) DO UPDATE SET
            status = excluded.status,
            finished_at = excluded.finished_at,
            deployment_name = coalesce(excluded.deployment_name, deployments.deployment_name),
            environment = coalesce(excluded.environment, deployments.environment),
            service_name = coalesce(excluded.service_name, deployments.service_name),
            service_namespace = coalesce(excluded.service_namespace, deployments.service_namespace),
            service_version = coalesce(excluded.service_version, deployments.service_version),
            first_commit_at = coalesce(excluded.first_commit_at, deployments.first_commit_at),
            vcs_revision = coalesce(excluded.vcs_revision, deployments.vcs_revision),
            vcs_repository = coalesce(excluded.vcs_repository, deployments.vcs_repository),
            pipeline_name = coalesce(excluded.pipeline_name, deployments.pipeline_name),
            pipeline_run_id = coalesce(excluded.pipeline_run_id, deployments.pipeline_run_id),
            resources = coalesce(excluded.resources, deployments.resources)
        WHERE excluded.finished_at >= deployments.finished_at OR deployments.finished_at IS NULL""",
    "incidents": """
        INSERT INTO incidents SELECT * FROM projection
        ON CONFLICT (incident_id) DO UPDATE SET
            service_name = coalesce(excluded.service_name, incidents.service_name),
            service_namespace = coalesce(excluded.service_namespace, incidents.service_namespace),
            environment = coalesce(excluded.environment, incidents.environment),
            opened_at = coalesce(excluded.opened_at, incidents.opened_at),
            resolved_at = coalesce(excluded.resolved_at, incidents.resolved_at),
            caused_by_deployment_id = coalesce(excluded.caused_by_deployment_id, incidents.caused_by_deployment_id)""",
}
"""Idempotent upserts: a retried export changes nothing; a later event updates the row, keeping
what it leaves out."""
