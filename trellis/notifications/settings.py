"""The notifications' settings, read by the server that installs them (``trellis.settings``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotificationsSettings(BaseSettings):
    """The rules file and how often the notifications run."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_", extra="forbid")

    notifications_file: Path | None = Field(
        None, description="YAML file of notification rules and their channels (webhook, Slack, e-mail)."
    )
    notifications_interval_seconds: float = Field(
        30.0, gt=0, description="How often the notifications look for events and conditions and retry deliveries."
    )
