"""Reading a ``terraform show -json`` document: its shape, its resources module by module, the criteria per address.

Managed resources of the types in ``MAPPED_TYPES`` become definitions (see ``definitions``); data sources
and everything else are skipped with the reason. A document that is not usable ``terraform show -json``
output raises ``TerraformStateError`` naming the file, the JSON path and what is wrong.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from trellis.catalog.documents import describe_validation
from trellis.catalog.importers.apply import ImportReport, apply_import
from trellis.catalog.importers.errors import LegacyImportError
from trellis.catalog.importers.results import ImportResult, Skipped, normalize_file
from trellis.catalog.importers.terraform.addresses import NAMESPACE_PATTERN
from trellis.catalog.importers.terraform.definitions import SOURCE, definition
from trellis.catalog.importers.terraform.resources import Skip
from trellis.catalog.models import Criterion, ResourceDefinition

if TYPE_CHECKING:
    from trellis.catalog.service import Catalog

CriteriaMap = Mapping[str, Sequence[Criterion | Mapping[str, Any]]]
"""Resource address -> the rules its definition gets (``class``, ``env_type``, ``app_id``, ``env_id``, ``res_id``)."""


class TerraformStateError(LegacyImportError):
    """A file that is not usable ``terraform show -json`` output; names the file, where and what is wrong."""


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
            document = definition(raw, address, file, namespace)
        except Skip as skip:
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


class TerraformImporter:
    """The ``terraform`` format: the output of ``terraform show -json``, with an optional namespace."""

    name = SOURCE
    reads = "the output of `terraform show -json`"

    def read(self, text: str | bytes, file: str, *, namespace: str | None = None) -> ImportResult:
        """``parse_terraform_text``: every managed resource of a mapped type, the others skipped with the reason."""
        return parse_terraform_text(text, file, namespace=namespace)


__all__ = [
    "CriteriaMap",
    "TerraformImporter",
    "TerraformStateError",
    "import_terraform",
    "parse_terraform",
    "parse_terraform_text",
    "read_terraform",
]
