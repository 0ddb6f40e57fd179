"""Every setting of Trellis, in one place.

Each field has a default, a one-line description, an environment variable
(``TRELLIS_`` + the field name in upper case) and a command-line flag
(``--`` + the field name with dashes). ``docs/configuration.md`` lists them all;
a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MEMORY_LIMIT_PATTERN = r"^\d+(\.\d+)?\s*[KMGT]i?B$"
"""A DuckDB memory limit as the collector accepts it: 512MB, 2GiB, 1.5 GB."""


class Settings(BaseSettings):
    """The settings of the collector and of the commands that talk to it."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_", extra="forbid")

    db: Path = Field(Path("var/trellis.duckdb"), description="DuckDB database file the collector owns.")
    host: str = Field("127.0.0.1", description="Address the collector binds; non-loopback needs a tokens file.")
    otlp_grpc_port: int = Field(4317, description="Port of the OTLP/gRPC receiver.")
    otlp_http_port: int = Field(4318, description="Port of the OTLP/HTTP receiver.")
    api_port: int = Field(4319, description="Port of the query and catalog API.")
    tokens_file: Path | None = Field(None, description="YAML file of API tokens; when set, every endpoint needs one.")
    max_body_bytes: int = Field(
        64 * 1024 * 1024, description="Largest OTLP request body accepted, measured after decompression."
    )
    max_queue_points: int = Field(
        2_000_000, description="Points waiting to be written before new exports get 503 and Retry-After."
    )
    duckdb_memory_limit: str = Field(
        "512MB",
        pattern=MEMORY_LIMIT_PATTERN,
        description="DuckDB's buffer memory in the collector (512MB, 2GiB); queries beyond it spill to disk.",
    )
    retry_after_seconds: int = Field(1, description="Retry-After sent to clients while the write queue is full.")
    query_row_limit: int = Field(100_000, description="Most rows one /api/v1/query answer returns.")
    query_timeout_seconds: float = Field(30.0, description="Longest a query may run before it is interrupted.")
    webhooks_file: Path | None = Field(None, description="YAML file of webhooks that receive catalog events.")
    housekeeping_seconds: float = Field(
        60.0, description="How often the collector expires pins and announces passed deadlines."
    )
    deprecation_days: int = Field(30, description="Deadline given to a version that a newer one replaces.")
    analytics_interval_seconds: float = Field(
        3600.0, description="How often the collector runs every analytics job over its window; 0 turns it off."
    )
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
    api: str = Field("http://127.0.0.1:4319", description="URL of a running collector's API, for CLI commands.")
    token: str | None = Field(None, description="API token the CLI sends to a running collector.")
    log_level: str = Field("info", description="Log level of the collector: debug, info, warning or error.")
