"""The catalog's settings, read by the server that mounts the catalog's routes (``trellis.settings``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CatalogSettings(BaseSettings):
    """Webhooks, housekeeping and deadlines of the resource catalog."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_", extra="forbid")

    webhooks_file: Path | None = Field(None, description="YAML file of webhooks that receive catalog events.")
    housekeeping_seconds: float = Field(
        60.0, description="How often the collector expires pins and announces passed deadlines."
    )
    deprecation_days: int = Field(30, description="Deadline given to a version that a newer one replaces.")
    pin_warning_days: float = Field(7.0, description="How long before a pin expires the pin.expiring event is sent.")
