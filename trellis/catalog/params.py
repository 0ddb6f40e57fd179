"""Checking params against their resource type's JSON schema: a definition's when it is stored, a
workload's merged with them when it is resolved."""

from __future__ import annotations

from typing import Any

import jsonschema

from trellis.catalog.errors import CatalogError
from trellis.catalog.models import ResourceTypeSpec


def validate_params(params: dict[str, Any], rtype: ResourceTypeSpec, where: str) -> None:
    """Raise CatalogError naming the field (below ``where``) when params fail the type's schema."""
    validator = jsonschema.Draft202012Validator(rtype.params_schema)
    error = next(iter(sorted(validator.iter_errors(params), key=lambda e: list(e.path))), None)
    if error is not None:
        path = ".".join([where, *(str(p) for p in error.path)])
        raise CatalogError(f"field {path}: {error.message}")


__all__ = ["validate_params"]
