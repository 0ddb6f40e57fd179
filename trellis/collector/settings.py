"""The collector's settings: where it stores, what it binds, its limits, and how commands reach it.

Each field has a default, a one-line description, an environment variable (``TRELLIS_`` + the field
name in upper case) and a command-line flag (``--`` + the field name with dashes). The settings of
every package are gathered in one list, ``trellis.settings.Settings``, which ``docs/configuration.md``
follows; a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MEMORY_LIMIT_PATTERN = r"^\d+(\.\d+)?\s*[KMGT]i?B$"
"""A DuckDB memory limit as the collector accepts it: 512MB, 2GiB, 1.5 GB."""
MEMORY_LIMIT = "400MB"
"""DuckDB's buffer memory by default. Without a limit (80% of RAM) DuckDB keeps every block it wrote
cached, so the collector grows with its database. 400 MB leaves the rest of the 1 GiB budget to the
Python side, compiled decoder included (docs/performance.md, memory under churn). Queries (and analytics
jobs on the store's cursors) that need more spill to ``<db>.tmp``; ``--duckdb-memory-limit``
(``Store(memory_limit=)``) sets another value, None keeps DuckDB's own."""


DEFAULT_API = "http://127.0.0.1:4319"
"""Where commands look for a running collector's API when neither ``--api`` nor ``TRELLIS_API`` says."""

DEFAULT_OTLP_HTTP = "http://127.0.0.1:4318"
"""Where commands send OTLP/HTTP when neither ``--endpoint`` nor ``TRELLIS_ENDPOINT`` says."""

DEFAULT_MAX_API_BODY_BYTES = 16 * 1024 * 1024
"""The API's body limit unless ``--max-api-body-bytes`` says otherwise: room for a large Terraform state."""

ENV_PREFIX = "TRELLIS_"


class CollectorSettings(BaseSettings):
    """The collector's own settings, and the address and token the commands use to reach it."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    db: Path = Field(Path("var/trellis.duckdb"), description="DuckDB database file the collector owns.")
    host: str = Field("127.0.0.1", description="Address the collector binds; non-loopback needs a tokens file.")
    otlp_grpc_port: int = Field(4317, description="Port of the OTLP/gRPC receiver.")
    otlp_http_port: int = Field(4318, description="Port of the OTLP/HTTP receiver.")
    api_port: int = Field(4319, description="Port of the query and catalog API.")
    tokens_file: Path | None = Field(None, description="YAML file of API tokens; when set, every endpoint needs one.")
    connectors_file: Path | None = Field(
        None, description="YAML file of the webhook sources (GitHub, GitLab, PagerDuty, Opsgenie) and their workloads."
    )
    max_body_bytes: int = Field(
        64 * 1024 * 1024, description="Largest OTLP request body accepted, measured after decompression."
    )
    max_api_body_bytes: int = Field(
        DEFAULT_MAX_API_BODY_BYTES, description="Largest request body the API reads (JSON documents, imports)."
    )
    max_queue_points: int = Field(
        2_000_000, description="Points waiting to be written before new exports get 503 and Retry-After."
    )
    max_queue_bytes: int = Field(
        256 * 1024 * 1024, description="Bytes of decoded rows waiting to be written before new exports get 503."
    )
    decode_processes: int = Field(
        2,
        ge=0,
        description="Worker processes that decode large exports (bodies of 128 KiB to 8 MiB) beside the "
        "collector's own threads, about 100 MiB each; 0 decodes every export in the collector's own process.",
    )
    wire_decoder: bool = Field(
        True,
        description="Decode OTLP protobuf metrics with a compiled pass over the wire format (numba), compiled or "
        "loaded from numba's cache when the collector starts; off, every export is read field by field as before.",
    )
    max_snapshots: int = Field(2, description="Snapshots taken or downloaded at once; more get 503.")
    duckdb_memory_limit: str = Field(
        MEMORY_LIMIT,
        pattern=MEMORY_LIMIT_PATTERN,
        description="DuckDB's buffer memory in the collector (400MB, 2GiB); queries beyond it spill to disk.",
    )
    retry_after_seconds: int = Field(1, description="Retry-After sent to clients while the write queue is full.")
    query_row_limit: int = Field(100_000, description="Most rows one /api/v1/query answer returns.")
    query_byte_limit: int = Field(
        16 * 1024 * 1024, description="Most bytes of data one /api/v1/query answer returns; a longer one is cut."
    )
    query_timeout_seconds: float = Field(
        30.0, description="Longest a query may run, answer included, before it is interrupted."
    )
    retention_metrics_days: int = Field(0, ge=0, description="Days raw metric points are kept; 0 keeps them.")
    retention_logs_days: int = Field(0, ge=0, description="Days log records are kept; 0 keeps them.")
    retention_traces_days: int = Field(0, ge=0, description="Days spans are kept; 0 keeps them.")
    retention_interval_seconds: float = Field(
        3600.0, description="Seconds between retention sweeps (when any signal has a retention); 0: none."
    )
    archive_dir: Path | None = Field(
        None,
        description="Local directory where days leaving retention are first written as Parquet "
        "(signal=<table>/date=YYYY-MM-DD); unset: they are only deleted.",
    )
    log_level: str = Field("info", description="Log level of the collector: debug, info, warning or error.")
    api: str = Field(DEFAULT_API, description="URL of a running collector's API, for commands.")
    endpoint: str = Field(
        DEFAULT_OTLP_HTTP, description="OTLP/HTTP address that `trellis emit` and `simulate` send to."
    )
    token: str | None = Field(None, description="API token that commands send to a running collector.")


__all__ = [
    "DEFAULT_API",
    "DEFAULT_MAX_API_BODY_BYTES",
    "DEFAULT_OTLP_HTTP",
    "ENV_PREFIX",
    "MEMORY_LIMIT",
    "MEMORY_LIMIT_PATTERN",
    "CollectorSettings",
]
