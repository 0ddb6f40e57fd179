"""The simulator's commands: ``trellis demo`` and ``trellis simulate``."""

from __future__ import annotations

from pathlib import Path

import typer

from trellis.collector.options import ApiOpt, EndpointOpt, TokenOpt, collector_settings, setting_option
from trellis.collector.settings import CollectorSettings
from trellis.simulator.demo import DEMO_DASHBOARD_PORT
from trellis.simulator.model import SAMPLE_DATA
from trellis.simulator.run import DEFAULT_SEED, DEFAULT_SPEED

DataOpt = typer.Option(None, "--data", help="Folder of the sample organisation (default: sample_data/).")
SeedOpt = typer.Option(DEFAULT_SEED, "--seed", help="Seed: the same seed gives the same organisation history.")
SpeedOpt = typer.Option(DEFAULT_SPEED, "--speed", help="Live deployments and incidents come this many times as often.")


def _port(name: str) -> int:
    """The collector's port setting as a demo option, with the setting's default: the demo's own ports."""
    return setting_option(CollectorSettings, name, default=CollectorSettings.model_fields[name].default)


def demo(
    db: Path = setting_option(CollectorSettings, "db"),
    days: float = typer.Option(90.0, "--days", help="Days of history the first run simulates."),
    seed: int = SeedOpt,
    data: Path = DataOpt,
    otlp_grpc_port: int = _port("otlp_grpc_port"),
    otlp_http_port: int = _port("otlp_http_port"),
    api_port: int = _port("api_port"),
    dashboard_port: int = typer.Option(DEMO_DASHBOARD_PORT, "--dashboard-port", help="Port of the dashboard."),
    live: bool = typer.Option(True, "--live/--no-live", help="Keep the organisation running after the history."),
    speed: float = SpeedOpt,
    dashboard: bool = typer.Option(True, "--dashboard/--no-dashboard", help="Start the dashboard too."),
) -> None:
    """The sample organisation's history in a collector, analytics, the dashboard, live; Ctrl-C stops it all."""
    from trellis.simulator.demo import DemoOptions, run_demo

    options = DemoOptions(
        db=db or collector_settings().db, days=days, seed=seed, data=data or SAMPLE_DATA,
        otlp_grpc_port=otlp_grpc_port, otlp_http_port=otlp_http_port, api_port=api_port,
        dashboard_port=dashboard_port, live=live, speed=speed, dashboard=dashboard,
    )  # fmt: skip
    run_demo(options)


def simulate(
    backfill: float = typer.Option(None, "--backfill", metavar="DAYS", help="Send this many days of history."),
    live: bool = typer.Option(False, "--live", help="Then keep a steady stream going until Ctrl-C."),
    seed: int = SeedOpt,
    speed: float = SpeedOpt,
    data: Path = DataOpt,
    endpoint: str = EndpointOpt,
    api: str = ApiOpt,
    token: str = TokenOpt,
) -> None:
    """Drive the sample organisation (sample_data/) into a running collector over OTLP.

    The token needs the ingest and deploy scopes; without one, the sample organisation's ci-pipeline token."""
    from trellis.simulator.model import load_organisation
    from trellis.simulator.run import Target
    from trellis.simulator.run import simulate as run

    org = load_organisation(data or SAMPLE_DATA)
    settings = collector_settings(api=api, token=token, endpoint=endpoint)
    target = Target(settings.endpoint, settings.api, settings.token or org.token("ci-pipeline"))
    try:
        run(org, target, seed=seed, backfill_days=backfill, live=live, speed=speed)
    except KeyboardInterrupt:
        typer.echo("simulation stopped", err=True)


def register(app: typer.Typer) -> None:
    """Add ``trellis demo`` and ``trellis simulate`` to the ``trellis`` command."""
    app.command()(demo)
    app.command()(simulate)


__all__ = ["register"]
