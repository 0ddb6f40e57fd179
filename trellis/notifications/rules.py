"""The notifications file: named channels, and rules that send an event or a condition to some of them.

Secrets never sit in the file: a channel names the environment variable that holds its signing secret or
its SMTP password (``secret_env``, ``password_env``), read when the collector starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trellis.collector import read_model_file

EVENTS = ("approval.requested", "version.activated", "pin.expiring", "consumer.deadline_passed", "gate.denied")
"""What the catalog does that a rule can be on."""

CONDITIONS = ("source.silent", "consumer.behind", "webhook.failing", "dora.band_fell", "cost.idle")
"""What a rule can watch on a schedule: it notifies when the condition starts to hold, and again only after
it cleared and returned."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookChannel(Strict):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="Where the JSON notification is POSTed.")
    secret_env: str | None = Field(
        None, description="Environment variable holding the secret that signs each body (X-Trellis-Signature)."
    )


class SlackChannel(Strict):
    type: Literal["slack"]
    url: str = Field(pattern=r"^https?://", description="A Slack-compatible incoming webhook URL.")


class EmailChannel(Strict):
    type: Literal["email"]
    host: str = Field(description="SMTP server.")
    port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    from_: str = Field(alias="from", description="The sender address.")
    to: list[str] = Field(default_factory=list, description="Recipients, unless the notice has its own.")
    addresses: dict[str, str] = Field(
        default_factory=dict, description="E-mail address per identity: approval.requested goes to the approvers."
    )
    username: str | None = Field(None, description="SMTP login, when the server asks for one.")
    password_env: str | None = Field(None, description="Environment variable holding the SMTP password.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS before logging in.")


Channel = Annotated[WebhookChannel | SlackChannel | EmailChannel, Field(discriminator="type")]


class RuleFilter(Strict):
    teams: list[str] = Field(default_factory=list, description="Teams (apps' owners); all when empty.")
    environments: list[str] = Field(default_factory=list, description="Environments; all when empty.")
    definitions: list[str] = Field(default_factory=list, description="Resource definitions; all when empty.")
    services: list[str] = Field(default_factory=list, description="Services (source.silent); all when empty.")


class RuleOptions(Strict):
    days_ahead: float = Field(7.0, gt=0, description="pin.expiring: how long before the expiry to notify.")
    minutes: float = Field(
        30.0, gt=0, description="source.silent: how long without anything received; webhook.failing: the window."
    )
    threshold: float = Field(100.0, ge=0, description="cost.idle: a team's idle cost over 7 days that is too much.")
    days: float = Field(14.0, gt=0, description="consumer.behind: how long a consumer may lag the active version.")
    share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="webhook.failing: the share of a source's deliveries left unmapped that is too much.",
    )


class Rule(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Names the rule in the notifications table.")
    on: str = Field(description="An event (approval.requested...) or a condition (source.silent).")
    filter: RuleFilter = Field(default_factory=RuleFilter)
    options: RuleOptions = Field(default_factory=RuleOptions)
    channels: list[str] = Field(min_length=1, description="Names of channels defined in the same file.")

    @model_validator(mode="before")
    @classmethod
    def _on_read_as_true(cls, data: Any) -> Any:
        """YAML 1.1 reads an unquoted ``on:`` key as the boolean true (as in CI workflow files): take it as ``on``."""
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if key is True else key): value for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _known(self) -> Rule:
        if self.on not in EVENTS + CONDITIONS:
            raise ValueError(
                f"{self.on!r} is neither an event nor a condition; use one of {', '.join(EVENTS + CONDITIONS)}"
            )
        return self


class Retry(Strict):
    first_delay_seconds: float = Field(30.0, gt=0, description="Wait before the second attempt; doubles after.")
    max_attempts: int = Field(6, ge=1, description="Attempts before a notification is marked failed.")


class NotificationsFile(Strict):
    dashboard_url: str | None = Field(None, description="The dashboard's address, for links in messages.")
    retry: Retry = Field(default_factory=Retry)
    channels: dict[str, Channel]
    rules: list[Rule]

    def mistake(self) -> str | None:
        """What refers to nothing or is named twice, as 'field <where>: <what>'; None when all is well."""
        for index, rule in enumerate(self.rules):
            unknown = [c for c in rule.channels if c not in self.channels]
            if unknown:
                return f"field rules.{index}.channels: channel {unknown[0]!r} is not defined under channels"
        names = [rule.name for rule in self.rules]
        twice = sorted({name for name in names if names.count(name) > 1})
        return f"field rules: two rules are named {twice[0]}; each rule needs a name of its own" if twice else None


class NotificationsFileError(ValueError):
    """The notifications file cannot be used; the message names the file and the field."""


def read_notifications(path: Path) -> NotificationsFile:
    """The file's rules and channels, with every secret variable it names present in the environment."""
    found = read_model_file(path, NotificationsFile, NotificationsFileError)
    mistake = found.mistake()
    if mistake is not None:
        raise NotificationsFileError(f"{path}: {mistake}")
    for name, channel in found.channels.items():
        variable = getattr(channel, "secret_env", None) or getattr(channel, "password_env", None)
        if variable and not os.environ.get(variable):
            raise NotificationsFileError(f"{path}: channel {name}: the environment variable {variable} is not set")
    return found


def secret(variable: str | None) -> str | None:
    """The value of a secret's environment variable, read when it is used, never stored."""
    return os.environ.get(variable) if variable else None


__all__ = [
    "CONDITIONS",
    "EVENTS",
    "Channel",
    "EmailChannel",
    "NotificationsFile",
    "NotificationsFileError",
    "Rule",
    "SlackChannel",
    "WebhookChannel",
    "read_notifications",
    "secret",
]
