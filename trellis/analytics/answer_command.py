"""``trellis answer``: one job's figures for a period, teams and environments, from a running collector."""

from __future__ import annotations

import typer

from trellis.analytics.cli import FromOpt, ToOpt, analytics_settings
from trellis.collector.options import ApiOpt, TokenOpt


def answer(
    job: str = typer.Argument(..., help="The job: dora, adoption, demand, utilization, cost or platform_health."),
    start: str = FromOpt,
    end: str = ToOpt,
    team: list[str] = typer.Option(None, "--team", help="Only this team; repeatable (default: every team)."),
    env: list[str] = typer.Option(None, "--env", help="Only this environment; repeatable (default: every one)."),
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
    api: str = ApiOpt,
    token: str = TokenOpt,
) -> None:
    """Compute one job for the period, teams and environments given, and print it (nothing is stored)."""
    import polars as pl

    from trellis.analytics.remote_answers import fetch_answer
    from trellis.analytics.service import period_from
    from trellis.analytics.slices import Slice
    from trellis.collector.client import Client

    settings = analytics_settings(api, token, None, None)
    try:
        period = period_from(start, end, settings.analytics_window_days)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from/--to") from None
    with Client(url=settings.api, token=settings.token, timeout=3600) as client:
        found = fetch_answer(client, job, period, Slice(tuple(team or ()), tuple(env or ())))
    if csv:
        typer.echo(found.frame.write_csv(), nl=False)
        return
    typer.echo(f"{job}: {found.covers}")
    with pl.Config(tbl_rows=50, tbl_cols=12, fmt_str_lengths=40):
        typer.echo(str(found.frame))


__all__ = ["answer"]
