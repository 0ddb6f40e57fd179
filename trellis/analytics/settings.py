"""The analytics' settings: the schedule, the default window and what the jobs assume."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AnalyticsSettings(BaseSettings):
    """How often and over what the jobs run, and the organisation facts they need."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_", extra="forbid")

    analytics_interval_seconds: float = Field(
        3600.0, description="How often the collector runs every analytics job over its window; 0 turns it off."
    )
    rollup_interval_seconds: float = Field(
        60.0, description="How often the collector rolls up the hours of usage that ended; 0 turns it off."
    )
    retention_rollups_days: int = Field(400, ge=0, description="Days of hourly usage rollups kept; 0 keeps them all.")
    analytics_window_days: int = Field(
        30, description="Days an analytics run covers when no period is given (scheduled runs, trellis analyze)."
    )
    production_environments: str = Field(
        "production", description="Comma-separated prefixes of the environments DORA metrics count as production."
    )
    price_table: Path | None = Field(None, description="YAML file of unit prices for the cost job (docs/analytics.md).")
    analytics_dead_after_days: int = Field(
        30, description="Days without a consumer after which a definition, version or class is dead inventory."
    )
