"""Score workloads (score.dev/v1b1): the resources a workload asks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trellis.catalog.documents import DocumentError, describe_validation, load_yaml
from trellis.catalog.models import Id, Name


class ScoreResource(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Id
    class_: Name | None = Field(None, alias="class")
    id: Name | None = Field(None, description="Shared resource id: all workloads of the app that name it share it.")
    params: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class ScoreMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: Name


class Workload(BaseModel):
    """A Score file; unknown top-level Score features (service, containers' details) are kept, not checked."""

    model_config = ConfigDict(extra="allow")

    apiVersion: Literal["score.dev/v1b1"]
    metadata: ScoreMetadata
    containers: dict[str, Any] = Field(default_factory=dict)
    resources: dict[Name, ScoreResource] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.metadata.name


def res_id(workload: str, resource_name: str, resource: ScoreResource) -> str:
    """``shared.ID`` for a shared resource, ``WORKLOAD.RESOURCE`` for a private one."""
    return f"shared.{resource.id}" if resource.id else f"{workload}.{resource_name}"


def parse_workload(raw: Any, file: str) -> Workload:
    try:
        return Workload.model_validate(raw)
    except ValidationError as exc:
        raise DocumentError(f"{file}: {describe_validation(exc)}") from None


def read_workload(path: Path) -> Workload:
    """Read a Score file; errors name the file and the field."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read: {exc.strerror}") from None
    documents = load_yaml(text, str(path))
    if len(documents) != 1:
        raise DocumentError(f"{path}: a Score file holds one workload, not {len(documents)} documents")
    return parse_workload(documents[0], str(path))
