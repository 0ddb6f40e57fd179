"""The Terraform resource types the catalog knows, and how each becomes a catalog type, outputs and params.

Each mapping reads a managed resource's attributes; a resource that lacks what the catalog type needs,
or is not what the type means (a memcached cluster, a TXT record), is skipped with the reason. Secret
outputs are references derived from the resource address, never values read from an attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TOPIC_TAG = "trellis:topic"
"""Tag on an ``aws_msk_cluster`` naming the topic its kafka-topic definition gives."""


@dataclass(frozen=True)
class Resource:
    """A managed resource of the state: its address, Terraform type, attributes and where its secrets are."""

    address: str
    type: str
    values: dict[str, Any]
    secret_base: str

    def ref(self, key: str) -> str:
        """The secret reference of one output: ``${secret:<secret path>#<key>}``."""
        return f"${{secret:{self.secret_base}#{key}}}"


@dataclass(frozen=True)
class Mapped:
    """What a resource becomes: a catalog type, its outputs and the params read from the attributes."""

    type: str
    outputs: dict[str, Any]
    params: dict[str, Any]


class Skip(Exception):
    """Raised by a mapping: the resource is not imported, for ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def value_at(values: Any, *path: str | int) -> Any:
    """The value at ``path`` (keys and list indexes), or None when any step is missing."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(values, list) or len(values) <= step:
                return None
        elif not isinstance(values, dict):
            return None
        values = values[step] if isinstance(step, int) else values.get(step)
    return values


def _text(values: dict[str, Any], *names: str) -> str:
    """The first of ``names`` that is a non-empty string; skips the resource when none is."""
    for name in names:
        value = values.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise Skip(f"attribute {' or '.join(names)} is empty in the state")


def _port(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    if isinstance(value, str) and value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    raise Skip(f"attribute {name} is not a port number")


def _version(values: dict[str, Any]) -> str | None:
    for name in ("engine_version_actual", "engine_version"):
        value = values.get(name)
        if isinstance(value, str) and value:
            return value
    return None


DB_ENGINES = {
    "postgres": "postgres",
    "aurora-postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "aurora-mysql": "mysql",
}
REDIS_ENGINES = ("redis", "valkey")
HOST_RECORD_TYPES = ("A", "AAAA", "CNAME")
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")


def _db_instance(r: Resource) -> Mapped:
    v = r.values
    engine = v.get("engine") or "(none)"
    rtype = DB_ENGINES.get(str(engine))
    if rtype is None:
        raise Skip(f"engine {engine} is neither postgres nor mysql")
    outputs = {
        "host": _text(v, "address"),
        "port": _port(v.get("port"), "port"),
        "name": _text(v, "db_name", "name"),
        "username": _text(v, "username"),
        "password": r.ref("password"),
    }
    params = {
        "version": _version(v),
        "backup_retention_days": v.get("backup_retention_period"),
        "size": v.get("instance_class"),
        "high_availability": v.get("multi_az"),
    }
    return Mapped(rtype, outputs, params)


def _check_redis_engine(v: dict[str, Any]) -> None:
    engine = v.get("engine")
    if engine is not None and engine not in REDIS_ENGINES:
        raise Skip(f"engine {engine} is not redis")


def _elasticache_cluster(r: Resource) -> Mapped:
    v = r.values
    _check_redis_engine(v)
    group = v.get("replication_group_id")
    if group:
        raise Skip(f"member of replication group {group}; the replication group is imported instead")
    node = value_at(v, "cache_nodes", 0) or {}
    outputs = {
        "host": _text(node, "address"),
        "port": _port(node.get("port") or v.get("port"), "cache_nodes[0].port"),
        "password": r.ref("password"),
    }
    return Mapped("redis", outputs, {"version": _version(v)})


def _elasticache_replication_group(r: Resource) -> Mapped:
    v = r.values
    _check_redis_engine(v)
    outputs = {
        "host": _text(v, "primary_endpoint_address", "configuration_endpoint_address"),
        "port": _port(v.get("port"), "port"),
        "password": r.ref("password"),
    }
    return Mapped("redis", outputs, {"version": _version(v)})


def _s3_bucket(r: Resource) -> Mapped:
    v = r.values
    region = _text(v, "region")
    domain = v.get("bucket_regional_domain_name") or v.get("bucket_domain_name")
    outputs = {
        "bucket": _text(v, "bucket"),
        "region": region,
        "endpoint": f"https://{domain}" if domain else f"https://s3.{region}.amazonaws.com",
        "aws_access_key_id": r.ref("aws_access_key_id"),
        "aws_secret_access_key": r.ref("aws_secret_access_key"),
    }
    acl = v.get("acl")
    params = {
        "region": region,
        "versioning": value_at(v, "versioning", 0, "enabled"),
        "public": acl in PUBLIC_ACLS if isinstance(acl, str) and acl else None,
    }
    return Mapped("s3", outputs, params)


def _route53_record(r: Resource) -> Mapped:
    v = r.values
    record_type = v.get("type")
    if record_type not in HOST_RECORD_TYPES:
        raise Skip(f"record type {record_type} does not name a host (only {', '.join(HOST_RECORD_TYPES)} do)")
    host = _text(v, "fqdn", "name").rstrip(".")
    return Mapped("dns", {"host": host}, {"record_type": record_type, "ttl": v.get("ttl")})


def _msk_cluster(r: Resource) -> Mapped:
    v = r.values
    topic = value_at(v, "tags", TOPIC_TAG) or value_at(v, "tags_all", TOPIC_TAG)
    if not isinstance(topic, str) or not topic.strip():
        raise Skip(
            f"a cluster is not a topic: tag it {TOPIC_TAG}=<topic> to import it, or describe its topics in a CSV import"
        )
    outputs = {
        "brokers": _text(
            v,
            "bootstrap_brokers_tls",
            "bootstrap_brokers_sasl_scram",
            "bootstrap_brokers_sasl_iam",
            "bootstrap_brokers",
        ),
        "topic": topic.strip(),
        "username": r.ref("username"),
        "password": r.ref("password"),
    }
    return Mapped("kafka-topic", outputs, {})


MAPPED_TYPES: dict[str, tuple[str, Callable[[Resource], Mapped]]] = {
    "aws_db_instance": ("postgres or mysql, by engine", _db_instance),
    "aws_elasticache_cluster": ("redis", _elasticache_cluster),
    "aws_elasticache_replication_group": ("redis", _elasticache_replication_group),
    "aws_s3_bucket": ("s3", _s3_bucket),
    "aws_route53_record": ("dns", _route53_record),
    "aws_msk_cluster": ("kafka-topic", _msk_cluster),
}
"""Terraform resource type -> (catalog type, mapping); any other type is skipped."""


__all__ = ["MAPPED_TYPES", "TOPIC_TAG", "Mapped", "Resource", "Skip", "value_at"]
