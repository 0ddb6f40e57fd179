"""Importing Terraform state: the output of ``terraform show -json`` as legacy static definitions.

Managed resources of the types in ``MAPPED_TYPES`` become ``ResourceDefinition``
documents whose outputs are read from the resource's attributes; everything
else (other types, data sources, resources that lack what the catalog type
needs) is skipped with the reason. Secret outputs are references derived from
the resource address (``${secret:legacy/terraform/<address>#password}``); no
value is ever copied from an attribute that holds or the state marks as a
secret, and a resource whose chosen attributes would carry one is skipped.

Definition ids are ``tf-`` + the address made id-safe + 8 hex digits of the
address's SHA-256: readable, the same on every import, and distinct for
distinct addresses even when making them id-safe or short folds two together.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from trellis.catalog.builtin_types import BUILTIN_TYPES
from trellis.catalog.documents import describe_validation
from trellis.catalog.drivers import DRIVERS, DriverError
from trellis.catalog.importers import (
    ImportReport,
    ImportResult,
    LegacyImportError,
    Skipped,
    apply_import,
    normalize_file,
)
from trellis.catalog.models import API_VERSION, Criterion, ResourceDefinition

if TYPE_CHECKING:
    from trellis.catalog.service import Catalog

SOURCE = "terraform"
SECRET_ROOT = "legacy/terraform"
"""Secret references point below this path: ``${secret:legacy/terraform/[<namespace>/]<address>#<output>}``."""
TOPIC_TAG = "trellis:topic"
"""Tag on an ``aws_msk_cluster`` naming the topic its kafka-topic definition gives."""
NAMESPACE_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$"

CriteriaMap = Mapping[str, Sequence[Criterion | Mapping[str, Any]]]
"""Resource address -> the rules its definition gets (``class``, ``env_type``, ``app_id``, ``env_id``, ``res_id``)."""


class TerraformStateError(LegacyImportError):
    """A file that is not usable ``terraform show -json`` output; names the file, where and what is wrong."""


@dataclass(frozen=True)
class _Resource:
    address: str
    type: str
    values: dict[str, Any]
    secret_base: str

    def ref(self, key: str) -> str:
        return f"${{secret:{self.secret_base}#{key}}}"


@dataclass(frozen=True)
class _Mapped:
    type: str
    outputs: dict[str, Any]
    params: dict[str, Any]


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# attributes --------------------------------------------------------------------
def _get(values: Any, *path: str | int) -> Any:
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
    raise _Skip(f"attribute {' or '.join(names)} is empty in the state")


def _port(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    if isinstance(value, str) and value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    raise _Skip(f"attribute {name} is not a port number")


def _version(values: dict[str, Any]) -> str | None:
    for name in ("engine_version_actual", "engine_version"):
        value = values.get(name)
        if isinstance(value, str) and value:
            return value
    return None


# mappings ----------------------------------------------------------------------
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


def _db_instance(r: _Resource) -> _Mapped:
    v = r.values
    engine = v.get("engine") or "(none)"
    rtype = DB_ENGINES.get(str(engine))
    if rtype is None:
        raise _Skip(f"engine {engine} is neither postgres nor mysql")
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
    return _Mapped(rtype, outputs, params)


def _check_redis_engine(v: dict[str, Any]) -> None:
    engine = v.get("engine")
    if engine is not None and engine not in REDIS_ENGINES:
        raise _Skip(f"engine {engine} is not redis")


def _elasticache_cluster(r: _Resource) -> _Mapped:
    v = r.values
    _check_redis_engine(v)
    group = v.get("replication_group_id")
    if group:
        raise _Skip(f"member of replication group {group}; the replication group is imported instead")
    node = _get(v, "cache_nodes", 0) or {}
    outputs = {
        "host": _text(node, "address"),
        "port": _port(node.get("port") or v.get("port"), "cache_nodes[0].port"),
        "password": r.ref("password"),
    }
    return _Mapped("redis", outputs, {"version": _version(v)})


def _elasticache_replication_group(r: _Resource) -> _Mapped:
    v = r.values
    _check_redis_engine(v)
    outputs = {
        "host": _text(v, "primary_endpoint_address", "configuration_endpoint_address"),
        "port": _port(v.get("port"), "port"),
        "password": r.ref("password"),
    }
    return _Mapped("redis", outputs, {"version": _version(v)})


def _s3_bucket(r: _Resource) -> _Mapped:
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
        "versioning": _get(v, "versioning", 0, "enabled"),
        "public": acl in PUBLIC_ACLS if isinstance(acl, str) and acl else None,
    }
    return _Mapped("s3", outputs, params)


def _route53_record(r: _Resource) -> _Mapped:
    v = r.values
    record_type = v.get("type")
    if record_type not in HOST_RECORD_TYPES:
        raise _Skip(f"record type {record_type} does not name a host (only {', '.join(HOST_RECORD_TYPES)} do)")
    host = _text(v, "fqdn", "name").rstrip(".")
    return _Mapped("dns", {"host": host}, {"record_type": record_type, "ttl": v.get("ttl")})


def _msk_cluster(r: _Resource) -> _Mapped:
    v = r.values
    topic = _get(v, "tags", TOPIC_TAG) or _get(v, "tags_all", TOPIC_TAG)
    if not isinstance(topic, str) or not topic.strip():
        raise _Skip(
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
    return _Mapped("kafka-topic", outputs, {})


MAPPED_TYPES: dict[str, tuple[str, Callable[[_Resource], _Mapped]]] = {
    "aws_db_instance": ("postgres or mysql, by engine", _db_instance),
    "aws_elasticache_cluster": ("redis", _elasticache_cluster),
    "aws_elasticache_replication_group": ("redis", _elasticache_replication_group),
    "aws_s3_bucket": ("s3", _s3_bucket),
    "aws_route53_record": ("dns", _route53_record),
    "aws_msk_cluster": ("kafka-topic", _msk_cluster),
}
"""Terraform resource type -> (catalog type, mapping); any other type is skipped."""


# secrets -----------------------------------------------------------------------
_SECRET_NAME = re.compile(r"password|passwd|secret|token|private_key|credential", re.IGNORECASE)


def _sensitive_strings(values: Any, marks: Any, by_name: bool = False) -> set[str]:
    """Strings the state marks sensitive (``sensitive_values``), or keeps under a secret-sounding name.

    Marked strings count from 4 characters; named ones from 8 (AWS asks at least that of passwords
    and tokens), so that short settings such as ``secret_status: active`` do not count.
    """
    found: set[str] = set()
    if marks is True:
        found |= {s for s in _strings(values) if len(s) >= 4}
    if by_name:
        found |= {s for s in _strings(values) if len(s) >= 8}
    if isinstance(values, dict):
        for key, value in values.items():
            found |= _sensitive_strings(value, _get(marks, key), by_name or bool(_SECRET_NAME.search(str(key))))
    elif isinstance(values, list):
        for i, value in enumerate(values):
            found |= _sensitive_strings(value, _get(marks, i), by_name)
    return found


def _strings(values: Any) -> Iterator[str]:
    if isinstance(values, str):
        yield values
    elif isinstance(values, dict):
        for value in values.values():
            yield from _strings(value)
    elif isinstance(values, list):
        for value in values:
            yield from _strings(value)


def _exposes(mapped: _Mapped, sensitive: set[str]) -> str | None:
    """The first output or param whose value contains a sensitive string."""
    for kind, values in (("output", mapped.outputs), ("param", mapped.params)):
        for name, value in values.items():
            if isinstance(value, str) and any(secret in value for secret in sensitive):
                return f"{kind} {name}"
    return None


# ids and paths -----------------------------------------------------------------
def definition_id(address: str, namespace: str | None = None) -> str:
    """The definition id of a resource address: ``tf-[<namespace>-]<address made id-safe>-<8 hex digits>``.

    Deterministic, at most 63 characters, valid against ``ID_PATTERN``; the hash of the
    namespace and the full address keeps ids of distinct addresses distinct.
    """
    digest = hashlib.sha256(f"{namespace or ''}\n{address}".encode()).hexdigest()[:8]
    slug = re.sub(r"(^|\.)module\.", r"\1", address.lower())
    slug = slug.replace("_", "-").replace('["', ".").replace("[", ".").replace('"]', "").replace("]", "")
    slug = re.sub(r"[^a-z0-9.-]+", "-", slug)
    slug = re.sub(r"([.-])[.-]+", r"\1", slug)
    prefix = f"tf-{namespace}-" if namespace else "tf-"
    room = 63 - len(prefix) - len(digest) - 1
    if len(slug) > room:
        slug = slug[-room:]
        slug = slug[slug.index(".") + 1 :] if "." in slug[:-1] else slug
    slug = slug.strip(".-")
    return f"{prefix}{slug}-{digest}" if slug else f"{prefix}{digest}"


def secret_path(address: str, namespace: str | None = None) -> str:
    """Where the secrets of a resource are expected: ``legacy/terraform/[<namespace>/]<address>``."""
    path = address.replace('["', ".").replace("[", ".").replace('"]', "").replace("]", "")
    path = re.sub(r"[^A-Za-z0-9_.-]+", "_", path)
    return "/".join([SECRET_ROOT, *([namespace] if namespace else []), path])


# reading -----------------------------------------------------------------------
def read_terraform(
    path: str | os.PathLike[str], *, namespace: str | None = None, criteria: CriteriaMap | None = None
) -> ImportResult:
    """Read a ``terraform show -json`` file; raises ``TerraformStateError`` naming the file and the problem."""
    file = normalize_file(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise TerraformStateError(file, "no such file") from None
    except IsADirectoryError:
        raise TerraformStateError(file, "is a folder; give the file `terraform show -json` wrote") from None
    except OSError as exc:
        raise TerraformStateError(file, f"cannot read: {exc.strerror}") from None
    return parse_terraform_text(raw, file, namespace=namespace, criteria=criteria)


def parse_terraform_text(
    text: str | bytes, file: str, *, namespace: str | None = None, criteria: CriteriaMap | None = None
) -> ImportResult:
    """Like ``read_terraform`` for content already in memory (an upload); ``file`` names it in messages."""
    if not text.strip():
        raise TerraformStateError(file, "is empty; expected the output of `terraform show -json`")
    try:
        state = json.loads(text)
    except UnicodeDecodeError:
        raise TerraformStateError(file, "is not UTF-8 text; expected the output of `terraform show -json`") from None
    except json.JSONDecodeError as exc:
        raise TerraformStateError(
            file, f"is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "expected the output of `terraform show -json`"
        ) from None  # fmt: skip
    return parse_terraform(state, file, namespace=namespace, criteria=criteria)


def parse_terraform(
    state: Any, file: str, *, namespace: str | None = None, criteria: CriteriaMap | None = None
) -> ImportResult:
    """Map a parsed ``terraform show -json`` document; see the module docstring."""
    if namespace is not None and not re.match(NAMESPACE_PATTERN, namespace):
        raise TerraformStateError(
            file, f"namespace {namespace!r} must be 1-20 lowercase letters, digits and hyphens, like prod-eu"
        )
    root = _root_module(state, file)
    result = ImportResult(SOURCE, file, namespace=namespace)
    seen: dict[str, str] = {}
    by_address: dict[str, ResourceDefinition] = {}
    for raw, where in _walk(root, "values.root_module", file):
        address = _check_resource(raw, where, file)
        if address in seen:
            raise TerraformStateError(file, f"address {address} appears twice (also at {seen[address]})", where)
        seen[address] = where
        if raw["mode"] != "managed":
            result.skipped.append(Skipped(address, "data source: Terraform reads it, it does not manage it"))
            continue
        try:
            document = _definition(raw, address, file, namespace)
        except _Skip as skip:
            result.skipped.append(Skipped(address, skip.reason))
            continue
        result.definitions.append(document)
        result.locations[document.metadata.id] = address
        by_address[address] = document
    _apply_criteria(result, by_address, criteria or {})
    return result


def _root_module(state: Any, file: str) -> dict[str, Any]:
    expected = "expected the output of `terraform show -json`"
    if not isinstance(state, dict):
        raise TerraformStateError(file, f"the top level is {_json_type(state)}, not an object; {expected}")
    if "values" not in state:
        if "resource_changes" in state or "planned_values" in state:
            raise TerraformStateError(
                file, "is a plan (`terraform show -json PLANFILE`); import the state: `terraform show -json`"
            )
        if "resources" in state and "version" in state:
            raise TerraformStateError(
                file, "is a raw state file (terraform.tfstate); convert it: `terraform show -json terraform.tfstate`"
            )
        if "format_version" not in state:
            raise TerraformStateError(file, f"has neither format_version nor values; {expected}")
        raise TerraformStateError(file, "has no values: the state holds no resources, so there is nothing to import")
    version = state.get("format_version")
    if not isinstance(version, str):
        raise TerraformStateError(file, f"has no format_version; {expected}")
    if version.split(".")[0] != "1":
        raise TerraformStateError(file, f"format_version {version} is not supported; expected 1.x")
    values = state["values"]
    if not isinstance(values, dict):
        raise TerraformStateError(file, f"is {_json_type(values)}, not an object", "values")
    root = values.get("root_module")
    if not isinstance(root, dict):
        problem = "is missing" if root is None else f"is {_json_type(root)}, not an object"
        raise TerraformStateError(file, problem, "values.root_module")
    return root


def _walk(module: dict[str, Any], where: str, file: str) -> Iterator[tuple[Any, str]]:
    """Every resource of a module and, depth first, of its child modules, with where it is."""
    resources = module.get("resources", [])
    if not isinstance(resources, list):
        raise TerraformStateError(file, f"is {_json_type(resources)}, not a list", f"{where}.resources")
    for i, raw in enumerate(resources):
        yield raw, f"{where}.resources[{i}]"
    children = module.get("child_modules", [])
    if not isinstance(children, list):
        raise TerraformStateError(file, f"is {_json_type(children)}, not a list", f"{where}.child_modules")
    for i, child in enumerate(children):
        child_where = f"{where}.child_modules[{i}]"
        if not isinstance(child, dict):
            raise TerraformStateError(file, f"is {_json_type(child)}, not an object", child_where)
        yield from _walk(child, child_where, file)


def _check_resource(raw: Any, where: str, file: str) -> str:
    if not isinstance(raw, dict):
        raise TerraformStateError(file, f"is {_json_type(raw)}, not an object", where)
    for key in ("address", "mode", "type"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise TerraformStateError(file, f"has no {key}", where)
    if raw["mode"] not in ("managed", "data"):
        raise TerraformStateError(file, f"mode {raw['mode']!r} is neither managed nor data", where)
    if raw["mode"] == "managed" and not isinstance(raw.get("values"), dict):
        raise TerraformStateError(file, "has no values object", f"{where} ({raw['address']})")
    return str(raw["address"])


def _definition(raw: dict[str, Any], address: str, file: str, namespace: str | None) -> ResourceDefinition:
    tf_type = raw["type"]
    if tf_type not in MAPPED_TYPES:
        raise _Skip(f"no catalog type for {tf_type}")
    resource = _Resource(address, tf_type, raw["values"], secret_path(address, namespace))
    mapped = MAPPED_TYPES[tf_type][1](resource)
    rtype = BUILTIN_TYPES[mapped.type]
    mapped = _Mapped(mapped.type, mapped.outputs, _schema_params(mapped.params, rtype.params_schema))
    exposed = _exposes(mapped, _sensitive_strings(raw["values"], raw.get("sensitive_values")))
    if exposed:
        raise _Skip(f"{exposed} would hold a value the state marks sensitive; nothing of the resource was imported")
    provenance = {"source": SOURCE, "file": file, "address": address}
    if namespace:
        provenance["namespace"] = namespace
    document = ResourceDefinition.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "ResourceDefinition",
            "metadata": {"id": definition_id(address, namespace), "description": f"Legacy {mapped.type}: {address}"},
            "spec": {
                "type": mapped.type,
                "driver": "static",
                "params": mapped.params,
                "outputs": mapped.outputs,
                "legacy": True,
                "provenance": provenance,
            },
        }
    )
    try:
        DRIVERS["static"].check(document.spec, rtype)
    except DriverError as exc:
        raise _Skip(f"would not be a valid {mapped.type} definition: {exc}") from None
    return document


def _schema_params(params: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The params the type's schema declares, when of the declared JSON type; the others are left out."""
    properties = schema.get("properties", {})
    fits: dict[str, Callable[[Any], bool]] = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "boolean": lambda v: isinstance(v, bool),
        "string": lambda v: isinstance(v, str) and v != "",
    }
    kept: dict[str, Any] = {}
    for name, value in params.items():
        fit = fits.get(properties.get(name, {}).get("type"))
        if fit is not None and fit(value):
            kept[name] = value
    return kept


def _apply_criteria(result: ImportResult, by_address: dict[str, ResourceDefinition], criteria: CriteriaMap) -> None:
    skipped = dict(result.skipped)
    for address, rules in criteria.items():
        if address in skipped:
            raise TerraformStateError(
                result.file, f"criteria are given for {address}, which is skipped: {skipped[address]}"
            )
        document = by_address.get(address)
        if document is None:
            raise TerraformStateError(result.file, f"criteria are given for {address}, which is not in the state")
        if isinstance(rules, str | bytes | Mapping):
            raise TerraformStateError(result.file, f"criteria for {address} must be a list of rules")
        parsed = []
        for i, rule in enumerate(rules):
            try:
                parsed.append(rule if isinstance(rule, Criterion) else Criterion.model_validate(rule))
            except ValidationError as exc:
                raise TerraformStateError(
                    result.file, f"criteria for {address}, rule {i + 1}: {describe_validation(exc)}"
                ) from None
        document.spec.criteria = parsed
        result.criteria_from_source.add(document.metadata.id)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def import_terraform(
    catalog: Catalog,
    path: str | os.PathLike[str],
    actor: str,
    dry_run: bool = False,
    *,
    namespace: str | None = None,
    criteria: CriteriaMap | None = None,
) -> ImportReport:
    """Read a ``terraform show -json`` file and apply its definitions in one transaction.

    ``criteria`` (resource address -> rules) sets the criteria of those definitions; the others
    keep the criteria they have in the catalog (none for a new one). ``namespace`` keeps apart
    the ids of several states with the same addresses (workspaces, accounts). With ``dry_run``
    the report says what would change and nothing does.
    """
    return apply_import(catalog, read_terraform(path, namespace=namespace, criteria=criteria), actor, dry_run)


__all__ = [
    "MAPPED_TYPES",
    "CriteriaMap",
    "TerraformStateError",
    "definition_id",
    "import_terraform",
    "parse_terraform",
    "parse_terraform_text",
    "read_terraform",
    "secret_path",
]
