"""``trellis dashboard``: start the Streamlit dashboard on top of a running collector (or a file, read-only)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from trellis.collector.options import ApiOpt, TokenOpt, collector_settings

APP = Path(__file__).resolve().parent / "app.py"

DbOpt = typer.Option(
    None, "--db", help="Database file to read, read-only, when no collector answers at --api (editing is off then)."
)
PortOpt = typer.Option(8501, "--port", help="Port the dashboard serves on.")
HostOpt = typer.Option("127.0.0.1", "--host", help="Address the dashboard binds.")
SecretsOpt = typer.Option(
    None, "--secrets", help="Streamlit secrets.toml, for OpenID Connect sign-in; see docs/dashboard.md."
)


def streamlit_command(port: int, host: str, secrets: Path | None = None) -> list[str]:
    """The ``streamlit run`` command line: headless, no usage statistics, no file watching."""
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port), "--server.address", host, "--server.headless", "true",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal", "--client.showErrorDetails", "type",
        "--theme.primaryColor", "#2f7d4f",
    ]  # fmt: skip
    if secrets is not None:
        command += ["--secrets.files", str(secrets)]
    return command


def dashboard_env(api: str, token: str | None, db: Path | None) -> dict[str, str]:
    """The environment the Streamlit process reads its settings from (``trellis/dashboard/config.py``)."""
    from trellis.dashboard.config import DB_VARIABLE

    env = {k: v for k, v in os.environ.items() if k not in ("TRELLIS_TOKEN", DB_VARIABLE)}
    env["TRELLIS_API"] = api
    if token:
        env["TRELLIS_TOKEN"] = token
    if db is not None:
        env[DB_VARIABLE] = str(db.resolve())
    return env


def dashboard(
    api: str = ApiOpt,
    port: int = PortOpt,
    db: Path = DbOpt,
    token: str = TokenOpt,
    host: str = HostOpt,
    secrets: Path = SecretsOpt,
) -> None:
    """Start the dashboard: Streamlit pages over the collector's API; Ctrl-C stops it.

    With --token the dashboard starts signed in with that token; people can sign in with their own."""
    settings = collector_settings(api=api, token=token)
    if db is not None and not db.exists():
        raise typer.BadParameter(f"{db} does not exist", param_hint="--db")
    if secrets is not None and not secrets.exists():
        raise typer.BadParameter(f"{secrets} does not exist", param_hint="--secrets")
    where = settings.api + (f" (or {db}, read-only, when no collector answers)" if db else "")
    typer.echo(f"Trellis dashboard on http://{host}:{port}, reading {where}; Ctrl-C stops it", err=True)
    command = streamlit_command(port, host, secrets)
    os.execve(sys.executable, command, dashboard_env(settings.api, settings.token, db))


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)


__all__ = ["dashboard", "dashboard_env", "register", "streamlit_command"]
