"""The catalog changes the dashboard makes, as plain functions: check, blast radius, propose, approve.

Each takes anything that runs catalog operations by name (the catalog's ``CatalogCalls``): the
dashboard's ``Backend`` (through the collector's API) or the catalog's own ``CatalogClient`` (in tests,
on a database directly).
"""

from __future__ import annotations

from typing import Any

from trellis.catalog import CatalogCalls
from trellis.catalog.models import ResourceTypeSpec
from trellis.dashboard import editor


def types(client: CatalogCalls) -> dict[str, ResourceTypeSpec]:
    return editor.resource_types(client.call("export", {})["documents"])


def definition(client: CatalogCalls, definition_id: str) -> dict[str, Any] | None:
    """One definition with its versions, or None."""
    found = [d for d in client.call("definitions", {})["definitions"] if d["id"] == definition_id]
    return found[0] if found else None


def blast_radius(client: CatalogCalls, document: dict[str, Any], known: dict[str, ResourceTypeSpec]) -> dict[str, Any]:
    """Check the document, then the ``plan`` operation's answer: every consumer whose binding it would change
    (``consumers``), the moves already pending from other changes (``pending``) and the counts (``summary``)."""
    model = editor.check(document, known)
    answer: dict[str, Any] = client.call("plan", {"documents": [editor.payload(model)]})
    return answer


def propose(
    client: CatalogCalls, document: dict[str, Any], known: dict[str, ResourceTypeSpec], base_version: int | None
) -> dict[str, Any]:
    """Check the document and propose it as the next version; a stale ``base_version`` is refused (409)."""
    model = editor.check(document, known)
    answer: dict[str, Any] = client.call("propose", {"document": editor.payload(model), "base_version": base_version})
    return answer


def pending(client: CatalogCalls) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = client.call("pending", {})["pending"]
    return result


def approve(client: CatalogCalls, proposal: dict[str, Any]) -> str:
    """Approve a pending proposal exactly as reviewed (its content hash); says what happened."""
    body = {"definition": proposal["definition"], "version": proposal["version"],
            "content_hash": proposal["content_hash"]}  # fmt: skip
    result: str = client.call("approve", body)["result"]
    return result


def active_version(client: CatalogCalls, definition_id: str) -> int | None:
    found = definition(client, definition_id)
    versions = [v for v in (found or {}).get("versions", []) if v["state"] == "active"]
    return int(versions[0]["version"]) if versions else None


__all__ = ["active_version", "approve", "blast_radius", "definition", "pending", "propose", "types"]
