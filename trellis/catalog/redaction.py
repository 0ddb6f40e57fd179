"""Redacting an output that becomes secret: plaintext stored before the type said so leaves every table.

A type that redeclares an output as secret (``token: {secret: true}``) makes every clear-text value of
it a leak: in the versions that gave it, in the bindings that recorded it and in the audit entries that
show those versions' changes. The change is refused while a served version (active, proposed or
deprecated) still gives the value in clear text, because consumers would lose it; once only archived or
withdrawn versions hold it, applying the type replaces each value with ``[redacted]`` everywhere SQL
can read it. The audit chain is hashed again from the first entry that changed, and a ``redact`` entry
names the entries, versions and bindings it touched and the head before the rewrite, so an auditor who
kept the old head sees why it moved.
"""

from __future__ import annotations

from typing import Any, Protocol

from trellis.catalog import audit
from trellis.catalog.drivers import is_secret_reference
from trellis.catalog.errors import CatalogError
from trellis.catalog.models import DefinitionSpec
from trellis.catalog.repository import Repository, VersionRow

REDACTED = "[redacted]"
SERVED = ("active", "proposed", "deprecated")


class Catalog(Protocol):
    @property
    def repo(self) -> Repository:
        """The catalog's tables, in the current session."""

    def record(self, actor: str, action: str, obj: str, change: dict[str, Any]) -> None:
        """Append an audit entry in the current transaction."""


def newly_secret(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The outputs a ResourceType change makes secret."""
    if before is None:
        return []
    was = before.get("outputs") or {}
    return sorted(
        name for name, output in (after.get("outputs") or {}).items()
        if output.get("secret") and not (was.get(name) or {}).get("secret")
    )  # fmt: skip


def _in_clear(spec: DefinitionSpec, names: list[str]) -> list[str]:
    def clear(value: Any) -> bool:
        return "${secret:" not in str(value) if spec.driver == "template" else not is_secret_reference(value)

    return [name for name in names if name in spec.outputs and clear(spec.outputs[name])]


def check_served(catalog: Catalog, type_id: str, names: list[str]) -> list[VersionRow]:
    """The versions of the type that give the outputs in clear text; refused when any is still served."""
    holding = [r for r in catalog.repo.versions() if r.spec.type == type_id and _in_clear(r.spec, names)]
    served = [r for r in holding if r.state in SERVED]
    if served:
        listed = ", ".join(f"version {r.version} of {r.definition_id} ({r.state})" for r in served)
        raise CatalogError(
            f"output {', '.join(names)} of {type_id} becomes secret, but {listed} gives it in clear text: "
            "archive it, or propose a version that gives a reference"
        )
    return holding


def redact(catalog: Catalog, type_id: str, names: list[str], actor: str) -> None:
    """Replace every clear-text value of ``names`` of type ``type_id``; audited with a ``redact`` entry."""
    holding = check_served(catalog, type_id, names)
    values = {
        r.spec.outputs[n] for r in holding for n in _in_clear(r.spec, names) if isinstance(r.spec.outputs[n], str)
    }
    for row in holding:
        outputs = {**row.spec.outputs, **dict.fromkeys(_in_clear(row.spec, names), REDACTED)}
        catalog.repo.redact_spec(row.definition_id, row.version, row.spec.model_copy(update={"outputs": outputs}))
    bindings = catalog.repo.redact_bindings(type_id, names, REDACTED)
    entries, previous_head = audit.redact(catalog.repo.con, values - {REDACTED}, REDACTED)
    if not (holding or bindings or entries):
        return
    catalog.record(actor, "redact", f"ResourceType/{type_id}", {
        "type": type_id, "outputs": names, "versions": [f"{r.definition_id}@{r.version}" for r in holding],
        "bindings": bindings, "entries": entries, "previous_head": previous_head,
    })  # fmt: skip


__all__ = ["REDACTED", "check_served", "newly_secret", "redact"]
