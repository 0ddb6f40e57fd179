"""``trellis answer``: one job's figures for a period, teams and environments, from a running collector."""

from __future__ import annotations

from typing import Any

import typer

from trellis.analytics.cli import FromOpt, ToOpt
from trellis.collector.options import ApiOpt, TokenOpt, collector_settings


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

    from trellis.collector.client import Client

    settings = collector_settings(api=api, token=token)
    body: dict[str, Any] = {k: v for k, v in (("from", start), ("to", end)) if v is not None}
    body |= {"teams": team or [], "environments": env or []}
    with Client(url=settings.api, token=settings.token, timeout=3600) as client:
        found = client.request("POST", f"/api/v1/analytics/{job}", json=body)
    names = [c["name"] for c in found["columns"]]
    frame = pl.DataFrame(found["rows"], schema=names, orient="row", infer_schema_length=None)
    if csv:
        typer.echo(frame.write_csv(), nl=False)
        return
    typer.echo(f"{job}: {found['covers']}")
    with pl.Config(tbl_rows=50, tbl_cols=12, fmt_str_lengths=40):
        typer.echo(str(frame))


__all__ = ["answer"]
