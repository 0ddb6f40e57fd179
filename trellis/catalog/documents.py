"""Reading catalog YAML: files and folders of documents, with errors that name file, document and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from trellis.catalog.models import KINDS, Document
from trellis.collector import describe_validation

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


MAX_NODES = 100_000
"""The most values one document may hold once its aliases are expanded."""


class _KeyTwice(yaml.YAMLError):
    def __init__(self, key: Any, line: int) -> None:
        super().__init__(f"key {key!r} appears twice (the second at line {line})")


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping: a reviewer must read what is applied."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue  # the loader refuses keys it cannot hash
            if key in seen:
                raise _KeyTwice(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(text: str, file: str) -> list[Any]:
    """The documents of a YAML text, strictly: a key given twice, an alias that contains itself, or a
    document that expands past ``MAX_NODES`` values is refused naming the file and the document."""
    documents: list[Any] = []
    try:
        for document in yaml.load_all(text, Loader=_StrictLoader):
            if document is not None:
                _check_shape(document, Source(file, len(documents)))
                documents.append(document)
    except _KeyTwice as exc:
        raise DocumentError(f"{Source(file, len(documents))}: {exc}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(f"{file}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise DocumentError(f"{Source(file, len(documents))}: nested too deeply") from None
    return documents


def _check_shape(document: Any, source: Source) -> None:
    try:
        size = _expanded(document, set(), {})
    except _Cycle:
        raise DocumentError(f"{source}: an alias refers to the value that contains it (a cycle)") from None
    if size > MAX_NODES:
        raise DocumentError(f"{source}: expands to more than {MAX_NODES:,} values through its aliases")


class _Cycle(Exception):
    pass


def _expanded(value: Any, path: set[int], sizes: dict[int, int]) -> int:
    """How many values ``value`` holds with every alias expanded (each shared value counted once per use)."""
    if not isinstance(value, dict | list):
        return 1
    key = id(value)
    if key in path:
        raise _Cycle
    if key not in sizes:
        path.add(key)
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        sizes[key] = 1 + sum(_expanded(child, path, sizes) for child in children)
        path.discard(key)
    return sizes[key]


def read_text(text: str, file: str) -> list[tuple[Any, Source]]:
    """Every document in a YAML text."""
    raws = load_yaml(text, file)
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


__all__ = [
    "DocumentError",
    "Source",
    "describe_validation",
    "load_yaml",
    "parse_document",
    "read_path",
    "read_text",
    "to_yaml",
]
