"""The ``trellis`` command: every package's subcommands under one root, and errors as one line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from trellis import __version__
from trellis.analytics import PriceTableError
from trellis.analytics import register_commands as register_analytics
from trellis.catalog import CatalogError, DocumentError, WebhooksFileError
from trellis.catalog import register_commands as register_catalog
from trellis.collector import ClientError, ConfigError, EmitError, TokensFileError, first_line
from trellis.collector import register_commands as register_collector
from trellis.collector.options import setting_option
from trellis.dashboard import register_commands as register_dashboard
from trellis.notifications import NotificationsFileError
from trellis.settings import Settings
from trellis.simulator import SimulationError
from trellis.simulator import register_commands as register_simulator

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Trellis: resource catalog and platform usage.",
)

KNOWN_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    ClientError,
    TokensFileError,
    EmitError,
    ValidationError,
    OSError,
    CatalogError,
    DocumentError,
    WebhooksFileError,
    NotificationsFileError,
    PriceTableError,
    SimulationError,
)
"""Errors a user can cause: shown as their own message, without 'unexpected'."""


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"trellis {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version of Trellis and exit."
    ),
) -> None:
    # The command's help is the app's (above); this only adds --version.
    pass


def _opt(name: str) -> Any:
    return setting_option(Settings, name)


@app.command()
def serve(
    db: Path = _opt("db"),
    host: str = _opt("host"),
    otlp_grpc_port: int = _opt("otlp_grpc_port"),
    otlp_http_port: int = _opt("otlp_http_port"),
    api_port: int = _opt("api_port"),
    tokens_file: Path = _opt("tokens_file"),
    connectors_file: Path = _opt("connectors_file"),
    max_body_bytes: int = _opt("max_body_bytes"),
    max_api_body_bytes: int = _opt("max_api_body_bytes"),
    max_queue_points: int = _opt("max_queue_points"),
    max_queue_bytes: int = _opt("max_queue_bytes"),
    max_snapshots: int = _opt("max_snapshots"),
    decode_processes: int = _opt("decode_processes"),
    wire_decoder: bool = setting_option(Settings, "wire_decoder", "--wire-decoder/--no-wire-decoder"),
    duckdb_memory_limit: str = _opt("duckdb_memory_limit"),
    retry_after_seconds: int = _opt("retry_after_seconds"),
    query_row_limit: int = _opt("query_row_limit"),
    query_byte_limit: int = _opt("query_byte_limit"),
    query_timeout_seconds: float = _opt("query_timeout_seconds"),
    retention_metrics_days: int = _opt("retention_metrics_days"),
    retention_logs_days: int = _opt("retention_logs_days"),
    retention_traces_days: int = _opt("retention_traces_days"),
    retention_interval_seconds: float = _opt("retention_interval_seconds"),
    archive_dir: Path = _opt("archive_dir"),
    log_level: str = _opt("log_level"),
    webhooks_file: Path = _opt("webhooks_file"),
    housekeeping_seconds: float = _opt("housekeeping_seconds"),
    deprecation_days: int = _opt("deprecation_days"),
    analytics_interval_seconds: float = _opt("analytics_interval_seconds"),
    rollup_interval_seconds: float = _opt("rollup_interval_seconds"),
    retention_rollups_days: int = _opt("retention_rollups_days"),
    analytics_window_days: int = _opt("analytics_window_days"),
    production_environments: str = _opt("production_environments"),
    price_table: Path = _opt("price_table"),
    analytics_dead_after_days: int = _opt("analytics_dead_after_days"),
    notifications_file: Path = _opt("notifications_file"),
    notifications_interval_seconds: float = _opt("notifications_interval_seconds"),
) -> None:
    """Run the collector: OTLP over gRPC and HTTP into DuckDB, and the API."""
    settings = Settings(**{k: v for k, v in locals().items() if v is not None})
    from trellis.server import serve as run

    run(settings)


register_collector(app)
register_catalog(app)
register_analytics(app)
register_dashboard(app)
register_simulator(app)


def main() -> None:
    """Entry point: every error a user can cause is one readable line."""
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Abort:
        sys.exit(130)
    except (typer.BadParameter, typer.Exit) as exc:
        _click_exit(exc)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, _click_errors()):
            _click_exit(exc)
        if os.environ.get("TRELLIS_DEBUG"):
            raise
        typer.echo(error_line(exc), err=True)
        sys.exit(1)


def error_line(exc: Exception) -> str:
    """The one line ``trellis`` prints for an error; unexpected ones say how to see the traceback."""
    if isinstance(exc, KNOWN_ERRORS):
        return f"error: {one_line(exc)}"
    return f"error: unexpected {type(exc).__name__}: {one_line(exc)} (TRELLIS_DEBUG=1 shows the traceback)"


def _click_errors() -> tuple[type[Exception], ...]:
    """Click's error class, and the copy of it that newer typer (which vendors click) raises."""
    import click

    return (click.ClickException, *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"))


def _click_exit(exc: Exception) -> None:
    if isinstance(exc, _click_errors()):
        error: Any = exc
        error.show()
    sys.exit(getattr(exc, "exit_code", 0))


def one_line(exc: Exception) -> str:
    """An error's first line; a settings error names the setting."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"setting {where}: {first['msg']}"
    return first_line(exc)


__all__ = ["app", "error_line", "main", "one_line"]
