"""The catalog's documents: what platform teams write in YAML and send to the API.

Every document is ``apiVersion: trellis/v1``, ``kind``, ``metadata: {id}``,
``spec``. Models forbid unknown fields, so a typo is an error that names the
field, not a setting silently ignored.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

API_VERSION = "trellis/v1"
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
NAME_PATTERN = rf"^{_LABEL}$"
"""Apps, environments, env types, workloads, resources and classes: one DNS label."""
ID_PATTERN = rf"^{_LABEL}(\.{_LABEL})*$"
"""Document ids and res_ids: DNS labels joined by dots (``checkout.db``, ``tf.main.orders-db``)."""
MAX_NAME = 63


def _checked(pattern: str, what: str, rule: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if len(value) > MAX_NAME or not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}: {rule}, at most {MAX_NAME} characters")
        return value

    return AfterValidator(check)


Name = Annotated[
    str,
    _checked(NAME_PATTERN, "a name", "lowercase letters, digits and '-', starting and ending with a letter or digit"),
]
Id = Annotated[str, _checked(ID_PATTERN, "an id", "names (lowercase letters, digits and '-') joined by single dots")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metadata(Strict):
    id: Id = Field(description="Unique id of the document within its kind.")
    description: str | None = Field(None, description="What this is for, for people.")
    labels: dict[str, str] = Field(default_factory=dict, description="Free-form labels.")
    team: Name | None = Field(None, description="The team that owns it: its admins may change it.")


class Output(Strict):
    secret: bool = Field(False, description="A secret output must be a reference such as ${secret:vault/path#key}.")
    description: str | None = None


class ResourceTypeSpec(Strict):
    params_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"}, description="JSON Schema that a definition's params must satisfy."
    )
    outputs: dict[str, Output] = Field(default_factory=dict, description="Outputs every definition of the type gives.")


class Criterion(Strict):
    """One matching rule; a missing class means ``default``."""

    class_: Name = Field("default", alias="class", description="Resource class; must match exactly.")
    env_type: Name | None = None
    app_id: Name | None = None
    env_id: Name | None = None
    res_id: Id | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def specificity(self) -> tuple[bool, bool, bool, bool]:
        """Ordering of rules that match: res_id beats env_id beats app_id beats env_type."""
        return (self.res_id is not None, self.env_id is not None, self.app_id is not None, self.env_type is not None)

    def key(self) -> tuple[str, str | None, str | None, str | None, str | None]:
        return (self.class_, self.env_type, self.app_id, self.env_id, self.res_id)

    def describe(self) -> str:
        parts = [f"class={self.class_}"] + [
            f"{name}={value}"
            for name, value in (
                ("env_type", self.env_type),
                ("app_id", self.app_id),
                ("env_id", self.env_id),
                ("res_id", self.res_id),
            )
            if value is not None
        ]
        return "{" + ", ".join(parts) + "}"


class DefinitionSpec(Strict):
    type: Id = Field(description="Resource type id (postgres, redis, s3, ...).")
    driver: Literal["static", "template"] = Field(description="static: outputs as given; template: rendered.")
    params: dict[str, Any] = Field(default_factory=dict, description="Parameters, validated by the type's schema.")
    outputs: dict[str, Any] = Field(default_factory=dict, description="Outputs; templates for the template driver.")
    criteria: list[Criterion] = Field(default_factory=list, description="Which contexts this definition serves.")
    legacy: bool = Field(False, description="Imported from an existing system rather than provisioned by Trellis.")
    provenance: dict[str, str] | None = Field(None, description="Where an imported definition came from.")


class PolicyMatch(Strict):
    type: str | None = Field(None, description="Resource type the policy applies to; all when unset.")
    env_type: str | None = Field(None, description="Applies to definitions whose criteria can match this env type.")


class PolicyRule(Strict):
    path: str = Field(description="Dotted path into the definition spec, such as params.backup_retention_days.")
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "absent", "matches"]
    value: Any = None


class PolicySpec(Strict):
    match: PolicyMatch = Field(default_factory=lambda: PolicyMatch())
    rule: PolicyRule
    effect: Literal["deny", "warn"] = "deny"
    message: str = Field(description="What is wrong, for the person proposing the change.")


GovernedKind = Literal["ResourceDefinition", "ApprovalRule", "Policy", "Pin", "Environment", "Team", "ResourceType"]


class RuleMatch(PolicyMatch):
    kinds: list[GovernedKind] = Field(
        default_factory=lambda: list[GovernedKind](["ResourceDefinition"]),
        description="The kinds of document whose changes the rule governs. For definitions and pins, type and "
        "env_type narrow it further; other kinds are governed whole.",
    )


class ApprovalRuleSpec(Strict):
    match: RuleMatch = Field(default_factory=lambda: RuleMatch(), description="Which changes need approval.")
    approvals: int = Field(1, ge=1, description="How many distinct approvers.")
    group: str = Field(description="Group the approvers must belong to (tokens file 'groups').")


class PinSpec(Strict):
    app: Name
    env: Name
    workload: Name
    resource: Name
    definition: Id
    version: int = Field(ge=1)
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    expires: datetime

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("expires needs a time zone, for example 2027-01-31T00:00:00Z")
        return value


class EnvironmentSpec(Strict):
    type: Name = Field(description="The environment type that criteria, policies and rules match: production...")
    team: Name | None = Field(None, description="The team that owns the environment.")


class TeamSpec(Strict):
    name: str | None = Field(None, description="The team's name, for people.")
    apps: list[Name] = Field(default_factory=list, description="The apps the team owns (Score apps, app_id).")
    members: list[str] = Field(
        default_factory=list, description="Groups (tokens file `groups`) whose holders deploy the team's apps."
    )
    admins: list[str] = Field(default_factory=list, description="Groups of the team's own admins.")


class _Document(Strict):
    apiVersion: Literal["trellis/v1"]
    metadata: Metadata


class Environment(_Document):
    kind: Literal["Environment"]
    spec: EnvironmentSpec


class Team(_Document):
    kind: Literal["Team"]
    spec: TeamSpec


class ResourceType(_Document):
    kind: Literal["ResourceType"]
    spec: ResourceTypeSpec


class ResourceDefinition(_Document):
    kind: Literal["ResourceDefinition"]
    spec: DefinitionSpec


class Policy(_Document):
    kind: Literal["Policy"]
    spec: PolicySpec


class ApprovalRule(_Document):
    kind: Literal["ApprovalRule"]
    spec: ApprovalRuleSpec


class Pin(_Document):
    kind: Literal["Pin"]
    spec: PinSpec


Document = Annotated[
    Environment | Team | ResourceType | ResourceDefinition | Policy | ApprovalRule | Pin,
    Field(discriminator="kind"),
]
KINDS = ("Environment", "Team", "ResourceType", "ResourceDefinition", "Policy", "ApprovalRule", "Pin")


__all__ = [
    "API_VERSION",
    "ID_PATTERN",
    "KINDS",
    "NAME_PATTERN",
    "ApprovalRule",
    "ApprovalRuleSpec",
    "Criterion",
    "DefinitionSpec",
    "Document",
    "Environment",
    "EnvironmentSpec",
    "GovernedKind",
    "Id",
    "Metadata",
    "Name",
    "Output",
    "Pin",
    "PinSpec",
    "Policy",
    "PolicyMatch",
    "PolicyRule",
    "PolicySpec",
    "ResourceDefinition",
    "ResourceType",
    "ResourceTypeSpec",
    "RuleMatch",
    "Strict",
    "Team",
    "TeamSpec",
]
