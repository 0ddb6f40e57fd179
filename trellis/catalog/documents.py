"""Reading catalog YAML: files and folders of documents, with errors that name file, document and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from trellis.catalog.models import KINDS, Document

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Document)


class DocumentError(ValueError):
    """A document that cannot be read; the message names the file, the document and the field."""


@dataclass(frozen=True)
class Source:
    """Where a document came from, for error messages."""

    file: str
    index: int

    def __str__(self) -> str:
        return f"{self.file} (document {self.index + 1})"


def parse_document(raw: Any, source: Source) -> Any:
    """Validate one raw YAML document into its model."""
    if not isinstance(raw, dict):
        raise DocumentError(f"{source}: a document must be a mapping with apiVersion, kind, metadata and spec")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise DocumentError(f"{source}: kind {kind!r} is unknown; expected one of {', '.join(KINDS)}")
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise DocumentError(f"{source}: {describe_validation(exc, skip=1)}") from None


def describe_validation(exc: ValidationError, skip: int = 0) -> str:
    """The first validation error as 'field a.b: message'."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"][skip:]) or "document"
    return f"field {where}: {first['msg'].removeprefix('Value error, ')}"


def read_text(text: str, file: str) -> list[tuple[Any, Source]]:
    """Every document in a YAML text."""
    try:
        raws = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise DocumentError(f"{file}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return [(parse_document(raw, Source(file, i)), Source(file, i)) for i, raw in enumerate(raws)]


def read_path(path: Path) -> list[tuple[Any, Source]]:
    """Every document in a YAML file, or in the *.yaml / *.yml files below a folder (sorted)."""
    if not path.exists():
        raise DocumentError(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
    documents: list[tuple[Any, Source]] = []
    for file in files:
        documents.extend(read_text(file.read_text(), str(file)))
    return documents


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)


__all__ = ["DocumentError", "Source", "describe_validation", "parse_document", "read_path", "read_text", "to_yaml"]
