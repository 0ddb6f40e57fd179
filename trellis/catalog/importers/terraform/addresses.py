"""What a resource address becomes in the catalog: a definition id, and the path its secrets are expected at.

Definition ids are ``tf-`` + the address made id-safe + 8 hex digits of the address's SHA-256: readable,
the same on every import, and distinct for distinct addresses even when making them id-safe or short
folds two together. A namespace keeps apart the ids of several states with the same addresses.
"""

from __future__ import annotations

import hashlib
import re

SECRET_ROOT = "legacy/terraform"
"""Secret references point below this path: ``${secret:legacy/terraform/[<namespace>/]<address>#<output>}``."""
NAMESPACE_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$"


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


__all__ = ["NAMESPACE_PATTERN", "SECRET_ROOT", "definition_id", "secret_path"]
