"""``trellis analyze``: run the analytics jobs through a running collector, or on the database file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from trellis.analytics.prices import PriceTableError
from trellis.analytics.registry import UnknownJob, select_jobs
from trellis.analytics.runner import JobResult
from trellis.analytics.settings import AnalyticsSettings
from trellis.collector.options import ApiOpt, DbFileOpt, TokenOpt, setting_option
from trellis.collector.settings import CollectorSettings

FromOpt = typer.Option(
    None, "--from", help="First day (or RFC 3339 moment) of the period (default: --to minus the window)."
)
ToOpt = typer.Option(None, "--to", help="End of the period, not included (default: the end of today, UTC).")
JobOpt = typer.Option(None, "--job", help="Job to run; repeat for several (default: every job).")
PriceOpt = setting_option(AnalyticsSettings, "price_table")
ProductionOpt = setting_option(AnalyticsSettings, "production_environments")


class CommandSettings(CollectorSettings, AnalyticsSettings):
    """What the analytics commands read: where the collector is, and the jobs' settings for --db."""


def analytics_settings(
    api: str | None, token: str | None, price_table: Path | None, production_environments: str | None
) -> CommandSettings:
    """Settings from the analytics commands' flags, then TRELLIS_* variables, then defaults."""
    flags: dict[str, Any] = {
        "api": api,
        "token": token,
        "price_table": price_table,
        "production_environments": production_environments,
    }
    return CommandSettings(**{k: v for k, v in flags.items() if v is not None})


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    )


def _report(progress: Any, result: JobResult, where: str) -> None:
    progress.console.print(
        f"{result.job:<16} {result.rows:>8} rows  {result.seconds:7.2f} s  -> analytics_{result.job} ({where})",
        soft_wrap=True,
    )


def analyze(
    start: str = FromOpt,
    end: str = ToOpt,
    job: list[str] = JobOpt,
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
    price_table: Path = PriceOpt,
    production_environments: str = ProductionOpt,
) -> None:
    """Run the analytics jobs; results land in analytics_<job> tables (readable with trellis query)."""
    from trellis.collector.client import running_collector

    settings = analytics_settings(api, token, price_table, production_environments)
    try:
        jobs = select_jobs(job)
    except UnknownJob as exc:
        raise typer.BadParameter(str(exc), param_hint="--job") from None
    client = running_collector(settings.api, settings.token, timeout=3600) if db is None else None
    if client is not None:
        with client:
            _through_api(client, jobs, start, end)
        return
    _on_file(db or settings.db, settings, jobs, start, end)


def _through_api(client: Any, jobs: list[Any], start: str | None, end: str | None) -> None:
    bounds: dict[str, str] = {k: v for k, v in (("from", start), ("to", end)) if v is not None}
    with _progress() as progress:
        task = progress.add_task("analyzing", total=len(jobs))
        for group in request_groups(jobs):
            progress.update(task, description=f"{', '.join(job.name for job in group)} (collector)")
            answer = client.request("POST", "/api/v1/analyze", json={**bounds, "jobs": [job.name for job in group]})
            bounds = {"from": answer["from"], "to": answer["to"]}
            for row in answer["results"]:
                _report(progress, JobResult(row["job"], row["rows"], row["seconds"]), f"collector at {client.url}")
                progress.advance(task)
    typer.echo(f"period {bounds['from']} to {bounds['to']}")


def request_groups(jobs: list[Any]) -> list[list[Any]]:
    """Jobs in the order given, one request each for progress, except that jobs sharing work
    (``Job.shares``) go together, at the first one's place: the collector then does that work once."""
    groups: list[list[Any]] = []
    together: dict[str, list[Any]] = {}
    for job in jobs:
        kind = next(iter(job.shares), None)
        if kind is None:
            groups.append([job])
        elif kind in together:
            together[kind].append(job)
        else:
            together[kind] = [job]
            groups.append(together[kind])
    return groups


def _on_file(path: Path, settings: Any, jobs: list[Any], start: str | None, end: str | None) -> None:
    import duckdb

    from trellis.analytics.run_sources import RunSources
    from trellis.analytics.runner import run_job
    from trellis.analytics.service import config_from_settings, period_from
    from trellis.collector.client import ClientError

    try:
        config = config_from_settings(settings)
    except PriceTableError as exc:
        raise typer.BadParameter(str(exc), param_hint="--price-table") from None
    try:
        period = period_from(start, end, settings.analytics_window_days)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from/--to") from None
    if not path.exists():
        raise ClientError(f"{path} does not exist, and no collector answers at {settings.api}")
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        raise ClientError(f"cannot open {path}: {str(exc).splitlines()[0]} (is a collector holding it?)") from None
    try:
        with _progress() as progress, RunSources(con) as sources:
            task = progress.add_task("analyzing", total=len(jobs))
            for job in jobs:
                progress.update(task, description=f"{job.name} (file)")
                _report(progress, run_job(con, job, period, config, sources), str(path))
                progress.advance(task)
    finally:
        con.close()
    typer.echo(f"period {period.start.isoformat()} to {period.end.isoformat()}")


__all__ = ["CommandSettings", "analytics_settings", "analyze"]
