"""The connectors file: each source's secret (by environment variable) and which workload its payloads name.

A YAML document with one section per source (``github``, ``gitlab``, ``pagerduty``, ``opsgenie``). Each
section names the environment variable that holds its secret, never the secret itself, and lists
workloads: the payload values (``match``) that select a Trellis workload (``service_name``) and team
(``service_namespace``). docs/connectors.md describes the format.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from trellis.collector.model_files import read_model_file

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ConnectorsFileError(ValueError):
    """The connectors file cannot be used; the message names the file and the field."""


class Workload(BaseModel):
    """Payload values that select a workload, and the workload they select."""

    model_config = ConfigDict(extra="forbid")

    match: dict[str, str] = Field(
        min_length=1, description="Payload values (by key) that select this workload; * and ? match any text."
    )
    service_name: str = Field(min_length=1, description="The workload: service_name of the rows.")
    service_namespace: str | None = Field(None, description="The team or application: service_namespace.")
    environment: str | None = Field(
        None, description="The environment of events whose payload names none (incident tools)."
    )

    def matches(self, keys: Mapping[str, str]) -> bool:
        """Whether every value this entry names matches the payload's; a key the payload lacks rules nothing out."""
        return all(key not in keys or fnmatch.fnmatchcase(keys[key], want) for key, want in self.match.items())


class SourceConfig(BaseModel):
    """What every source has: the variable that holds its secret, and its workloads."""

    model_config = ConfigDict(extra="forbid")
    KEYS: ClassVar[tuple[str, ...]] = ()
    """The payload values this source's ``match`` may name."""

    secret_env: str = Field(pattern=ENV_NAME, description="Environment variable that holds the source's secret.")
    workloads: list[Workload] = Field(default_factory=list, description="First match wins.")

    @model_validator(mode="after")
    def _known_keys(self) -> SourceConfig:
        for index, workload in enumerate(self.workloads):
            unknown = sorted(set(workload.match) - set(self.KEYS))
            if unknown:
                raise ValueError(
                    f"workloads[{index}].match: {unknown[0]!r} is not a value these payloads carry; "
                    f"use {', '.join(self.KEYS)}"
                )
        return self

    def workload(self, keys: Mapping[str, str]) -> Workload | None:
        """The first workload whose ``match`` fits the payload's values."""
        return next((w for w in self.workloads if w.matches(keys)), None)


class DeployWorkflow(BaseModel):
    """A GitHub Actions workflow whose completed runs are deployments."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(min_length=1, description="The workflow's name or its file path (.github/workflows/...).")
    environment: str = Field(min_length=1, description="The environment its runs deploy to.")


class GitHubConfig(SourceConfig):
    KEYS: ClassVar[tuple[str, ...]] = ("repository", "environment")

    incident_label: str | None = Field("incident", description="Issues with this label are incidents; null: none.")
    deploy_workflows: list[DeployWorkflow] = Field(
        default_factory=list, description="Workflows whose completed runs count as deployments."
    )


class DeployPipeline(BaseModel):
    """GitLab pipelines on a ref that count as deployments, for projects that deploy without environments."""

    model_config = ConfigDict(extra="forbid")

    ref: str = Field(min_length=1, description="The branch or tag the pipeline runs on; * and ? match any text.")
    environment: str = Field(min_length=1, description="The environment its pipelines deploy to.")

    def covers(self, ref: str) -> bool:
        return fnmatch.fnmatchcase(ref, self.ref)


class GitLabConfig(SourceConfig):
    KEYS: ClassVar[tuple[str, ...]] = ("project", "environment")

    deploy_pipelines: list[DeployPipeline] = Field(
        default_factory=list, description="Pipelines that count as deployments; deployment events always count."
    )


class PagerDutyConfig(SourceConfig):
    KEYS: ClassVar[tuple[str, ...]] = ("service", "service_id")


class OpsgenieConfig(SourceConfig):
    KEYS: ClassVar[tuple[str, ...]] = ("entity", "source", "alias", "integration")

    header: str = Field("X-Trellis-Token", min_length=1, description="The header Opsgenie sends the secret in.")


class ConnectorsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    github: GitHubConfig | None = None
    gitlab: GitLabConfig | None = None
    pagerduty: PagerDutyConfig | None = None
    opsgenie: OpsgenieConfig | None = None


class Connector:
    """One configured source: its section of the file and its secret, read from the environment."""

    def __init__(self, config: SourceConfig, secret: SecretStr) -> None:
        self.config, self.secret = config, secret


def read_connectors(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, Connector]:
    """The configured sources by name, each with its secret; ConnectorsFileError naming file and field."""
    document = _document(path)
    env = os.environ if environ is None else environ
    connectors = {}
    for source in ConnectorsFile.model_fields:
        config = getattr(document, source)
        if config is not None:
            connectors[source] = Connector(config, _secret(path, source, config.secret_env, env))
    return connectors


def _document(path: Path) -> ConnectorsFile:
    return read_model_file(path, ConnectorsFile, ConnectorsFileError, what="connectors file", empty={})


def _secret(path: Path, source: str, name: str, env: Mapping[str, str]) -> SecretStr:
    value = env.get(name, "")
    if not value:
        raise ConnectorsFileError(f"{path}: field {source}.secret_env: the environment variable {name} is not set")
    return SecretStr(value)


__all__ = [
    "Connector",
    "ConnectorsFile",
    "ConnectorsFileError",
    "DeployPipeline",
    "DeployWorkflow",
    "GitHubConfig",
    "GitLabConfig",
    "OpsgenieConfig",
    "PagerDutyConfig",
    "SourceConfig",
    "Workload",
    "read_connectors",
]
