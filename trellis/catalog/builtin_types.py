"""The resource types every catalog starts with; platform teams declare more as ResourceType documents."""

from __future__ import annotations

from typing import Any

from trellis.catalog.models import Output, ResourceTypeSpec


def _schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or [], "additionalProperties": True}


def _outputs(*plain: str, secret: tuple[str, ...] = ()) -> dict[str, Output]:
    outputs = {name: Output() for name in plain}
    outputs.update({name: Output(secret=True) for name in secret})
    return outputs


_INT = {"type": "integer", "minimum": 0}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}

BUILTIN_TYPES: dict[str, ResourceTypeSpec] = {
    "postgres": ResourceTypeSpec(
        params_schema=_schema(
            {"version": _STR, "backup_retention_days": _INT, "size": _STR, "high_availability": _BOOL}
        ),
        outputs=_outputs("host", "port", "name", "username", secret=("password",)),
    ),
    "mysql": ResourceTypeSpec(
        params_schema=_schema({"version": _STR, "backup_retention_days": _INT, "size": _STR}),
        outputs=_outputs("host", "port", "name", "username", secret=("password",)),
    ),
    "redis": ResourceTypeSpec(
        params_schema=_schema({"version": _STR, "memory_mb": _INT, "eviction_policy": _STR}),
        outputs=_outputs("host", "port", secret=("password",)),
    ),
    "s3": ResourceTypeSpec(
        params_schema=_schema({"public": _BOOL, "versioning": _BOOL, "region": _STR, "lifecycle_days": _INT}),
        outputs=_outputs("bucket", "region", "endpoint", "aws_access_key_id", secret=("aws_secret_access_key",)),
    ),
    "dns": ResourceTypeSpec(
        params_schema=_schema({"zone": _STR, "ttl": _INT, "record_type": _STR}),
        outputs=_outputs("host"),
    ),
    "kafka-topic": ResourceTypeSpec(
        params_schema=_schema({"partitions": _INT, "replication_factor": _INT, "retention_hours": _INT}),
        outputs=_outputs("brokers", "topic", "username", secret=("password",)),
    ),
    "k8s-namespace": ResourceTypeSpec(
        params_schema=_schema({"cpu_quota": _STR, "memory_quota": _STR}),
        outputs=_outputs("namespace"),
    ),
}
"""Built-in resource types: their params schemas and outputs (secret ones marked)."""


__all__ = ["BUILTIN_TYPES"]
