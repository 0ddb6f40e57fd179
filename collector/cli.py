"""The ``trellis`` command: one console script; each package owns its subcommands."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from collector.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Trellis: resource catalog and platform usage.",
)
emit_app = typer.Typer(no_args_is_help=True, help="Send deployment and incident events (for CI pipelines).")
app.add_typer(emit_app, name="emit")


def _register_packages() -> None:
    from analytics.cli import register as register_analytics
    from catalog.cli import register
    from dashboard.cli import register as register_dashboard

    register(app)
    register_analytics(app)
    register_dashboard(app)


_register_packages()


def _help(name: str) -> str:
    field = Settings.model_fields[name]
    return f"{field.description} [env: TRELLIS_{name.upper()}]"


def settings_from(**flags: Any) -> Settings:
    """Settings from the flags given, then TRELLIS_* variables, then defaults."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})


ApiOpt = typer.Option(None, "--api", help=_help("api"))
TokenOpt = typer.Option(None, "--token", help=_help("token"))


@app.command()
def serve(
    db: Path = typer.Option(None, help=_help("db")),
    host: str = typer.Option(None, help=_help("host")),
    otlp_grpc_port: int = typer.Option(None, help=_help("otlp_grpc_port")),
    otlp_http_port: int = typer.Option(None, help=_help("otlp_http_port")),
    api_port: int = typer.Option(None, help=_help("api_port")),
    tokens_file: Path = typer.Option(None, help=_help("tokens_file")),
    max_body_bytes: int = typer.Option(None, help=_help("max_body_bytes")),
    max_queue_points: int = typer.Option(None, help=_help("max_queue_points")),
    duckdb_memory_limit: str = typer.Option(None, help=_help("duckdb_memory_limit")),
    retry_after_seconds: int = typer.Option(None, help=_help("retry_after_seconds")),
    query_row_limit: int = typer.Option(None, help=_help("query_row_limit")),
    query_timeout_seconds: float = typer.Option(None, help=_help("query_timeout_seconds")),
    log_level: str = typer.Option(None, help=_help("log_level")),
    webhooks_file: Path = typer.Option(None, help=_help("webhooks_file")),
    housekeeping_seconds: float = typer.Option(None, help=_help("housekeeping_seconds")),
    deprecation_days: int = typer.Option(None, help=_help("deprecation_days")),
    analytics_interval_seconds: float = typer.Option(None, help=_help("analytics_interval_seconds")),
    analytics_window_days: int = typer.Option(None, help=_help("analytics_window_days")),
    production_environments: str = typer.Option(None, help=_help("production_environments")),
    price_table: Path = typer.Option(None, help=_help("price_table")),
    analytics_dead_after_days: int = typer.Option(None, help=_help("analytics_dead_after_days")),
) -> None:
    """Run the collector: OTLP over gRPC and HTTP into DuckDB, and the API."""
    settings = settings_from(**locals())
    from collector.server import serve as run

    run(settings)


def _client(api: str | None, token: str | None, db: Path | None = None) -> Any:
    from collector.client import Client

    if db is not None:
        return Client(db=db)
    settings = settings_from(api=api, token=token)
    return Client(url=settings.api, token=settings.token)


@app.command()
def snapshot(out: Path = typer.Argument(..., help="File to write."), api: str = ApiOpt, token: str = TokenOpt) -> None:
    """Write a consistent copy of a running collector's database that notebooks open read-only."""
    with _client(api, token) as client:
        path = client.snapshot(out)
    typer.echo(f"snapshot written to {path}; open it with duckdb.connect({str(path)!r}, read_only=True)")


@app.command()
def query(
    sql: str = typer.Argument(..., help="One read-only statement."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = typer.Option(None, help="Read this database file directly (no collector may be running)."),
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
) -> None:
    """Run a read-only SQL query against the store."""
    import polars as pl

    with _client(api, token, db) as client:
        frame = client.sql(sql)
    if csv:
        typer.echo(frame.write_csv(), nl=False)
        return
    with pl.Config(tbl_rows=50, tbl_cols=20, fmt_str_lengths=60):
        typer.echo(str(frame))


@app.command()
def status(api: str = ApiOpt, token: str = TokenOpt) -> None:
    """Show a running collector's health and ingest statistics."""
    import json

    with _client(api, token) as client:
        typer.echo(json.dumps({"health": client.health(), "stats": client.stats()}, indent=2))


DataOpt = typer.Option(None, "--data", help="Folder of the sample organisation (default: sample_data/).")
SeedOpt = typer.Option(7, "--seed", help="Seed: the same seed gives the same organisation history.")
SpeedOpt = typer.Option(10.0, "--speed", help="Live deployments and incidents come this many times as often.")


@app.command()
def demo(
    db: Path = typer.Option(None, help=_help("db")),
    days: float = typer.Option(90.0, "--days", help="Days of history the first run simulates."),
    seed: int = SeedOpt,
    data: Path = DataOpt,
    otlp_grpc_port: int = typer.Option(4317, help=_help("otlp_grpc_port")),
    otlp_http_port: int = typer.Option(4318, help=_help("otlp_http_port")),
    api_port: int = typer.Option(4319, help=_help("api_port")),
    dashboard_port: int = typer.Option(8501, help="Port of the dashboard."),
    live: bool = typer.Option(True, "--live/--no-live", help="Keep the organisation running after the history."),
    speed: float = SpeedOpt,
    dashboard: bool = typer.Option(True, "--dashboard/--no-dashboard", help="Start `trellis dashboard` if present."),
) -> None:
    """The sample organisation's history in a collector, analytics, the dashboard, live; Ctrl-C stops it all."""
    from collector.demo import DemoOptions, run_demo
    from collector.simulator_model import SAMPLE_DATA, SimulationError

    options = DemoOptions(
        db=db or settings_from().db, days=days, seed=seed, data=data or SAMPLE_DATA, otlp_grpc_port=otlp_grpc_port,
        otlp_http_port=otlp_http_port, api_port=api_port, dashboard_port=dashboard_port, live=live, speed=speed,
        dashboard=dashboard,
    )  # fmt: skip
    try:
        run_demo(options)
    except SimulationError as exc:
        typer.echo(f"error: {_one_line(exc)}", err=True)
        raise typer.Exit(1) from None


@app.command()
def simulate(
    backfill: float = typer.Option(None, "--backfill", metavar="DAYS", help="Send this many days of history."),
    live: bool = typer.Option(False, "--live", help="Then keep a steady stream going until Ctrl-C."),
    seed: int = SeedOpt,
    speed: float = SpeedOpt,
    data: Path = DataOpt,
    endpoint: str = typer.Option(None, "--endpoint", help="OTLP/HTTP endpoint (default: http://127.0.0.1:4318)."),
    api: str = ApiOpt,
    token: str = typer.Option(
        None, "--token", help="Token with the ingest and read scopes (env: TRELLIS_TOKEN; default: ci-pipeline's)."
    ),
) -> None:
    """Drive the sample organisation (sample_data/) into a running collector over OTLP."""
    from collector.simulator import Target
    from collector.simulator import simulate as run
    from collector.simulator_model import SAMPLE_DATA, SimulationError, load_organisation

    try:
        org = load_organisation(data or SAMPLE_DATA)
        settings = settings_from(api=api, token=token)
        target = Target(endpoint or "http://127.0.0.1:4318", settings.api, settings.token or org.token("ci-pipeline"))
        run(org, target, seed=seed, backfill_days=backfill, live=live, speed=speed)
    except SimulationError as exc:
        typer.echo(f"error: {_one_line(exc)}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("simulation stopped", err=True)


def _endpoint(endpoint: str | None) -> str:
    return endpoint or "http://127.0.0.1:4318"


EndpointOpt = typer.Option(None, "--endpoint", help="OTLP/HTTP endpoint [default: http://127.0.0.1:4318].")


@emit_app.command("deployment")
def emit_deployment(
    id: str = typer.Option(..., "--id", help="Deployment id (deployment.id)."),
    service: str = typer.Option(..., help="Workload (service.name)."),
    env: str = typer.Option(..., help="Environment (deployment.environment.name)."),
    status: str = typer.Option(..., help="succeeded or failed."),
    namespace: str = typer.Option(None, help="App or team (service.namespace)."),
    version: str = typer.Option(None, help="Version deployed (service.version)."),
    name: str = typer.Option(None, help="Deployment name."),
    revision: str = typer.Option(None, help="Commit deployed (vcs.ref.head.revision)."),
    repository: str = typer.Option(None, help="Repository URL (vcs.repository.url.full)."),
    pipeline: str = typer.Option(None, help="Pipeline name (cicd.pipeline.name)."),
    run_id: str = typer.Option(None, help="Pipeline run id (cicd.pipeline.run.id)."),
    first_commit_time: str = typer.Option(None, help="First commit of the change: RFC 3339 or Unix ns."),
    resource: list[str] = typer.Option(None, help="resource_name=definition_id@version; repeatable."),
    endpoint: str = EndpointOpt,
    token: str = TokenOpt,
) -> None:
    """Send a trellis.deployment event."""
    from collector.emit import DEPLOYMENT_EVENT, send_event

    _check_choice("--status", status, ("succeeded", "failed"))
    attributes = {
        "deployment.id": id,
        "deployment.name": name,
        "deployment.status": status,
        "deployment.environment.name": env,
        "vcs.ref.head.revision": revision,
        "vcs.repository.url.full": repository,
        "cicd.pipeline.name": pipeline,
        "cicd.pipeline.run.id": run_id,
        "trellis.change.first_commit_time": first_commit_time,
        "trellis.resources": list(resource or []),
    }
    resource_attrs = {"service.name": service, "service.namespace": namespace, "service.version": version}
    send_event(_endpoint(endpoint), settings_from(token=token).token, DEPLOYMENT_EVENT, resource_attrs, attributes)
    typer.echo(f"deployment {id} of {service} in {env} sent ({status})")


@emit_app.command("incident")
def emit_incident(
    id: str = typer.Option(..., "--id", help="Incident id (incident.id)."),
    service: str = typer.Option(..., help="Workload (service.name)."),
    status: str = typer.Option(..., help="opened or resolved."),
    env: str = typer.Option(None, help="Environment (deployment.environment.name)."),
    namespace: str = typer.Option(None, help="App or team (service.namespace)."),
    caused_by: str = typer.Option(None, help="Deployment id that caused it."),
    endpoint: str = EndpointOpt,
    token: str = TokenOpt,
) -> None:
    """Send a trellis.incident event."""
    from collector.emit import INCIDENT_EVENT, send_event

    _check_choice("--status", status, ("opened", "resolved"))
    attributes = {
        "incident.id": id,
        "incident.status": status,
        "deployment.environment.name": env,
        "trellis.caused_by.deployment_id": caused_by,
    }
    resource_attrs = {"service.name": service, "service.namespace": namespace}
    send_event(_endpoint(endpoint), settings_from(token=token).token, INCIDENT_EVENT, resource_attrs, attributes)
    typer.echo(f"incident {id} of {service} sent ({status})")


def _check_choice(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=flag)


def _known_errors() -> tuple[type[Exception], ...]:
    from analytics.prices import PriceTableError
    from catalog.documents import DocumentError
    from catalog.service import CatalogError
    from catalog.webhooks import WebhooksFileError
    from collector.auth import TokensFileError
    from collector.client import ClientError
    from collector.emit import EmitError
    from collector.server import ConfigError

    return (
        ConfigError,
        ClientError,
        TokensFileError,
        EmitError,
        ValidationError,
        OSError,
        CatalogError,
        DocumentError,
        WebhooksFileError,
        PriceTableError,
    )


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
    except Exception as exc:
        if isinstance(exc, _click_errors()):
            _click_exit(exc)
        if os.environ.get("TRELLIS_DEBUG"):
            raise
        prefix = "" if isinstance(exc, _known_errors()) else f"unexpected {type(exc).__name__}: "
        typer.echo(
            f"error: {prefix}{_one_line(exc)} (TRELLIS_DEBUG=1 shows the traceback)"
            if prefix
            else f"error: {_one_line(exc)}",
            err=True,
        )
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _click_errors() -> tuple[type[Exception], ...]:
    """Click's error class, and the copy of it that newer typer (which vendors click) raises."""
    import click

    return (click.ClickException, *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"))


def _click_exit(exc: Exception) -> None:
    if isinstance(exc, _click_errors()):
        error: Any = exc
        error.show()
    sys.exit(getattr(exc, "exit_code", 0))


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"setting {where}: {first['msg']}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
