"""Values a definition must never carry: the strings a state marks sensitive or keeps under a secret name.

A resource whose chosen outputs or params would carry one of them is skipped: no importer copies a
secret value from its source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from trellis.catalog.importers.terraform.resources import Mapped, value_at

_SECRET_NAME = re.compile(r"password|passwd|secret|token|private_key|credential", re.IGNORECASE)


def sensitive_strings(values: Any, marks: Any, by_name: bool = False) -> set[str]:
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
            found |= sensitive_strings(value, value_at(marks, key), by_name or bool(_SECRET_NAME.search(str(key))))
    elif isinstance(values, list):
        for i, value in enumerate(values):
            found |= sensitive_strings(value, value_at(marks, i), by_name)
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


def exposes(mapped: Mapped, sensitive: set[str]) -> str | None:
    """The first output or param whose value contains a sensitive string."""
    for kind, values in (("output", mapped.outputs), ("param", mapped.params)):
        for name, value in values.items():
            if isinstance(value, str) and any(secret in value for secret in sensitive):
                return f"{kind} {name}"
    return None


__all__ = ["exposes", "sensitive_strings"]
