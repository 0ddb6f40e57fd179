"""``trellis report``: a report of the analytics for a period, through a running collector or on a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from trellis.analytics.cli import FromOpt, PriceOpt, ProductionOpt, ToOpt, analytics_settings
from trellis.analytics.report.build import make_report
from trellis.analytics.report.formats import FORMATS, format_for, write_report
from trellis.collector.options import ApiOpt, DbFileOpt, TokenOpt


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def open_reader(api: str | None, token: str | None, db: Path | None, settings: Any) -> Any:
    """The collector's API when one answers (and no --db is given), else the database file, read-only."""
    from trellis.analytics.prices import PriceTableError
    from trellis.analytics.report.readers import ApiReader, FileReader
    from trellis.analytics.service import config_from_settings
    from trellis.collector.client import ClientError, CollectorRunning, running_collector

    client = running_collector(settings.api, settings.token, timeout=3600) if db is None else None
    if client is not None:
        return ApiReader(client, settings.query_row_limit)
    path = Path(db or settings.db)
    if not path.exists():
        raise ClientError(f"{path} does not exist, and no collector answers at {settings.api}")
    try:
        config = config_from_settings(settings)
    except PriceTableError as exc:
        raise typer.BadParameter(str(exc), param_hint="--price-table") from None
    try:
        return FileReader(path, config)
    except CollectorRunning:
        raise ClientError(f"{path} is held by a running collector; report through its API (--api)") from None


FormatOpt = typer.Option(None, "--format", help=f"One of {', '.join(FORMATS)} (default: from the --out suffix).")
OutOpt = typer.Option(..., "--out", help="File to write (a folder, or a .zip, for csv and parquet).")
TeamOpt = typer.Option(None, "--team", help="Only this team (service.namespace / app).")
EnvOpt = typer.Option(None, "--env", help="Only this environment; repeatable (default: every one).")


def report(
    start: str = FromOpt,
    end: str = ToOpt,
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    team: str = TeamOpt,
    env: list[str] = EnvOpt,
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
    price_table: Path = PriceOpt,
    production_environments: str = ProductionOpt,
) -> None:
    """Write a report of the analytics for a period, a team and environments: HTML, Markdown, PDF, CSV,
    Parquet or XLSX (each job's answer is computed for the report; nothing is stored)."""
    from trellis.analytics.service import period_from

    settings = analytics_settings(api, token, price_table, production_environments)
    try:
        chosen = format_for(out, fmt)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--format") from None
    try:
        period = period_from(start, end, settings.analytics_window_days)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from/--to") from None
    reader = open_reader(api, token, db, settings)
    try:
        built = make_report(reader, period, team or None, environments=tuple(env or ()))
    finally:
        reader.close()
    _say(f"writing {chosen} to {out}")
    written = write_report(built, chosen, out)
    for note in built.missing:
        _say(f"missing: {note}")
    typer.echo(
        f"report for {built.period_label} written to {out}" + (f" ({len(written)} files)" if len(written) > 1 else "")
    )


__all__ = ["open_reader", "report"]
