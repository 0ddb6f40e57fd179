"""Editing a resource definition: a draft from the form (or YAML), checked by the catalog's own models.

Nothing is sent before ``check`` passes: the document must parse as a ``ResourceDefinition`` (unknown
fields are errors), its params must satisfy the type's JSON Schema, and its outputs must suit the driver
(every declared output given, secrets as references). The collector checks again, with the policies and
the other definitions' criteria, when the proposal arrives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from trellis.catalog import DRIVERS, CatalogError, DriverError, validate_params
from trellis.catalog.builtin_types import BUILTIN_TYPES
from trellis.catalog.documents import DocumentError, Source, load_yaml, parse_document
from trellis.catalog.models import API_VERSION, ResourceDefinition, ResourceTypeSpec

CRITERION_FIELDS = ("class", "env_type", "app_id", "env_id", "res_id")


class EditError(ValueError):
    """The draft is not a definition the catalog would take; the message names the field."""


@dataclass
class Draft:
    """What the form holds."""

    id: str = ""
    description: str = ""
    type: str = "postgres"
    driver: str = "static"
    params: str = "{}"
    """YAML (or JSON) mapping."""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    """Rows ``{"name", "value"}``."""
    criteria: list[dict[str, Any]] = field(default_factory=list)
    """Rows with the CRITERION_FIELDS; empty cells mean "any"."""
    legacy: bool = False
    original_outputs: dict[str, Any] = field(default_factory=dict)
    """The outputs as stored: an untouched cell keeps its value and type (a port stays the number 5432)."""


def resource_types(exported: list[dict[str, Any]]) -> dict[str, ResourceTypeSpec]:
    """The built-in types and those the catalog declares (from the ``export`` operation's documents)."""
    declared = {
        doc["metadata"]["id"]: ResourceTypeSpec.model_validate(doc["spec"])
        for doc in exported
        if doc.get("kind") == "ResourceType"
    }
    return {**BUILTIN_TYPES, **declared}


def editable_version(definition: dict[str, Any]) -> dict[str, Any] | None:
    """The version an edit starts from: the newest active or proposed one, else the newest."""
    versions = definition.get("versions") or []
    live = [v for v in versions if v["state"] in ("active", "proposed")]
    chosen = live or versions
    return chosen[-1] if chosen else None


def base_version(definition: dict[str, Any] | None) -> int | None:
    """The latest version number, which a proposal must name (stale edits are refused)."""
    versions = (definition or {}).get("versions") or []
    return max((int(v["version"]) for v in versions), default=None)


def draft_from(definition: dict[str, Any]) -> Draft:
    """A draft of an existing definition (an item of the ``definitions`` operation's answer)."""
    version = editable_version(definition) or {}
    spec = version.get("spec") or {"type": definition.get("type", "postgres"), "driver": "static"}
    return Draft(
        id=definition["id"],
        description=definition.get("description") or "",
        type=spec["type"],
        driver=spec.get("driver", "static"),
        params=yaml.safe_dump(spec.get("params") or {}, sort_keys=False).strip(),
        outputs=[{"name": k, "value": _text(v)} for k, v in (spec.get("outputs") or {}).items()],
        criteria=[{k: c.get(k) for k in CRITERION_FIELDS} for c in spec.get("criteria") or []],
        legacy=bool(spec.get("legacy")),
        original_outputs=dict(spec.get("outputs") or {}),
    )


def draft_from_document(document: dict[str, Any]) -> Draft:
    """A draft of a ResourceDefinition document as edited so far (the YAML editor's, say)."""
    metadata = document.get("metadata") or {}
    entry = {"id": metadata.get("id") or "", "description": metadata.get("description"),
             "versions": [{"state": "proposed", "version": 0, "spec": document.get("spec") or {}}]}  # fmt: skip
    return draft_from(entry)


def new_draft(type_: str, types: dict[str, ResourceTypeSpec]) -> Draft:
    """An empty definition of a type: one row per output the type declares, one rule matching everything."""
    spec = types.get(type_)
    outputs = [
        {"name": name, "value": "${secret:vault/PATH#KEY}" if out.secret else ""}
        for name, out in (spec.outputs.items() if spec else [])
    ]
    return Draft(type=type_, outputs=outputs, criteria=[dict.fromkeys(CRITERION_FIELDS)])


def _text(value: Any) -> str:
    """How the table shows an output: strings as they are, anything else as JSON (``5432``, ``true``)."""
    return value if isinstance(value, str) else json.dumps(value)


def _output_value(name: str, text: Any, original: dict[str, Any]) -> Any:
    """The value to send: the stored one when the cell is untouched, else the text (parsed when the stored
    value was not a string, so a number stays a number)."""
    if _blank(text):
        return ""
    if name in original and _text(original[name]) == text:
        return original[name]
    if name in original and not isinstance(original[name], str):
        try:
            return yaml.safe_load(str(text))
        except yaml.YAMLError:
            return text
    return text


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value != value  # NaN from pandas


def document_from(draft: Draft) -> dict[str, Any]:
    """The ResourceDefinition document a draft stands for (not yet checked)."""
    try:
        params = yaml.safe_load(draft.params or "{}") or {}
    except yaml.YAMLError as exc:
        raise EditError(f"field spec.params: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(params, dict):
        raise EditError("field spec.params: give a mapping, such as `size: small`")
    outputs = {}
    for row in draft.outputs:
        name = row.get("name")
        if _blank(name):
            continue
        outputs[str(name).strip()] = _output_value(str(name).strip(), row.get("value"), draft.original_outputs)
    criteria = []
    for row in draft.criteria:
        rule = {k: str(row[k]).strip() for k in CRITERION_FIELDS if not _blank(row.get(k))}
        criteria.append(rule)
    metadata: dict[str, Any] = {"id": draft.id.strip()}
    if draft.description.strip():
        metadata["description"] = draft.description.strip()
    spec: dict[str, Any] = {"type": draft.type, "driver": draft.driver, "params": params, "outputs": outputs,
                            "criteria": criteria}  # fmt: skip
    if draft.legacy:
        spec["legacy"] = True
    return {"apiVersion": API_VERSION, "kind": "ResourceDefinition", "metadata": metadata, "spec": spec}


def document_from_yaml(text: str) -> dict[str, Any]:
    try:
        documents = load_yaml(text, "the YAML")
    except DocumentError as exc:
        raise EditError(str(exc)) from None
    document = documents[0] if len(documents) == 1 else None
    if not isinstance(document, dict):
        raise EditError("give one ResourceDefinition document: apiVersion, kind, metadata and spec")
    return document


def to_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False)


def check(document: dict[str, Any], types: dict[str, ResourceTypeSpec]) -> ResourceDefinition:
    """The document as the catalog's model, or EditError naming what is wrong."""
    try:
        model = parse_document(document, Source("editor", 0))
    except DocumentError as exc:
        raise EditError(str(exc).removeprefix("editor (document 1): ")) from None
    if not isinstance(model, ResourceDefinition):
        raise EditError("only ResourceDefinition documents are edited here; apply other kinds with the CLI")
    rtype = types.get(model.spec.type)
    if rtype is None:
        raise EditError(f"field spec.type: resource type {model.spec.type!r} is unknown")
    try:
        validate_params(model.spec.params, rtype, "spec.params")
        DRIVERS[model.spec.driver].check(model.spec, rtype)
    except CatalogError as exc:
        raise EditError(str(exc)) from None
    except DriverError as exc:
        raise EditError(f"field spec.outputs: {exc}") from None
    return model


def payload(model: ResourceDefinition) -> dict[str, Any]:
    """The document as it is sent: the model's own dump, so what was checked is what arrives."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


__all__ = [
    "CRITERION_FIELDS",
    "Draft",
    "EditError",
    "base_version",
    "check",
    "document_from",
    "document_from_yaml",
    "draft_from",
    "new_draft",
    "payload",
    "resource_types",
    "to_yaml",
]
