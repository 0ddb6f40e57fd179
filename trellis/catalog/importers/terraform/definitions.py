"""From one managed resource of a state to one legacy static definition, or the reason it is skipped.

The definition keeps only the params its type declares, carries provenance (source, file, address and
namespace) and must pass the static driver's checks; a resource that would expose a sensitive value
is skipped whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trellis.catalog.builtin_types import BUILTIN_TYPES
from trellis.catalog.drivers import DRIVERS, DriverError
from trellis.catalog.importers.terraform.addresses import definition_id, secret_path
from trellis.catalog.importers.terraform.resources import MAPPED_TYPES, Mapped, Resource, Skip
from trellis.catalog.importers.terraform.sensitive import exposes, sensitive_strings
from trellis.catalog.models import API_VERSION, ResourceDefinition

SOURCE = "terraform"
"""The importer's name, and ``spec.provenance.source`` of every definition it makes."""


def definition(raw: dict[str, Any], address: str, file: str, namespace: str | None) -> ResourceDefinition:
    """The legacy static definition of one managed resource; raises ``Skip`` with the reason it cannot be one."""
    tf_type = raw["type"]
    if tf_type not in MAPPED_TYPES:
        raise Skip(f"no catalog type for {tf_type}")
    resource = Resource(address, tf_type, raw["values"], secret_path(address, namespace))
    mapped = MAPPED_TYPES[tf_type][1](resource)
    rtype = BUILTIN_TYPES[mapped.type]
    mapped = Mapped(mapped.type, mapped.outputs, _schema_params(mapped.params, rtype.params_schema))
    exposed = exposes(mapped, sensitive_strings(raw["values"], raw.get("sensitive_values")))
    if exposed:
        raise Skip(f"{exposed} would hold a value the state marks sensitive; nothing of the resource was imported")
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
        raise Skip(f"would not be a valid {mapped.type} definition: {exc}") from None
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


__all__ = ["SOURCE", "definition"]
