"""The collector's commands: ``trellis query``, ``status``, ``retention``, ``snapshot`` and ``emit``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from trellis.collector.options import ApiOpt, DbFileOpt, EndpointOpt, TokenOpt, collector_settings

emit_app = typer.Typer(no_args_is_help=True, help="Send deployment and incident events (for CI pipelines).")


def _client(api: str | None, token: str | None, db: Path | None = None) -> Any:
    from trellis.collector.client import Client

    if db is not None:
        return Client(db=db)
    settings = collector_settings(api=api, token=token)
    return Client(url=settings.api, token=settings.token)


def snapshot(out: Path = typer.Argument(..., help="File to write."), api: str = ApiOpt, token: str = TokenOpt) -> None:
    """Write a consistent copy of a running collector's database that notebooks open read-only."""
    with _client(api, token) as client:
        path = client.snapshot(out)
    typer.echo(f"snapshot written to {path}; open it with duckdb.connect({str(path)!r}, read_only=True)")


def query(
    sql: str = typer.Argument(..., help="One read-only statement."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
    csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
    param: list[str] = typer.Option(
        None, "--param", "-p", help="NAME=VALUE for a $NAME placeholder; repeatable. VALUE is JSON, else text."
    ),
) -> None:
    """Run a read-only SQL query against the store."""
    import polars as pl

    with _client(api, token, db) as client:
        frame = client.sql(sql, params=_params(param) if param else None)
    if csv:
        typer.echo(frame.write_csv(), nl=False)
        return
    with pl.Config(tbl_rows=50, tbl_cols=20, fmt_str_lengths=60):
        typer.echo(str(frame))


def _params(pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs as named parameters: a VALUE that reads as JSON (5, true, null) is that value."""
    import json

    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


def status(api: str = ApiOpt, token: str = TokenOpt) -> None:
    """Show a running collector's health and ingest statistics."""
    import json

    with _client(api, token) as client:
        typer.echo(json.dumps({"health": client.health(), "stats": client.stats()}, indent=2))


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
    """Send a trellis.deployment event over OTLP/HTTP."""
    from trellis.collector.emit import DEPLOYMENT_EVENT, send_event

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
    settings = collector_settings(endpoint=endpoint, token=token)
    send_event(settings.endpoint, settings.token, DEPLOYMENT_EVENT, resource_attrs, attributes)
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
    """Send a trellis.incident event over OTLP/HTTP."""
    from trellis.collector.emit import INCIDENT_EVENT, send_event

    _check_choice("--status", status, ("opened", "resolved"))
    attributes = {
        "incident.id": id,
        "incident.status": status,
        "deployment.environment.name": env,
        "trellis.caused_by.deployment_id": caused_by,
    }
    resource_attrs = {"service.name": service, "service.namespace": namespace}
    settings = collector_settings(endpoint=endpoint, token=token)
    send_event(settings.endpoint, settings.token, INCIDENT_EVENT, resource_attrs, attributes)
    typer.echo(f"incident {id} of {service} sent ({status})")


def _check_choice(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=flag)


def retention(
    api: str = ApiOpt,
    token: str = TokenOpt,
    sweep: bool = typer.Option(False, "--sweep", help="Remove the expired rows now (needs the admin scope)."),
) -> None:
    """Show how long each signal is kept and what a sweep would remove; --sweep removes it."""
    with _client(api, token) as client:
        if sweep:
            removed = client.sweep_retention()["removed"]
            typer.echo("removed " + (", ".join(f"{n:,} rows of {t}" for t, n in removed.items() if n) or "nothing"))
        answer = client.retention()
    typer.echo(_retention_table(answer))


def _retention_table(answer: dict[str, Any]) -> str:
    lines = [f"{'table':<36} {'kept':>9} {'rows':>14} {'oldest':<21} {'a sweep removes':>15}"]
    for t in answer["tables"]:
        kept = f"{t['keep_days']} days" if t["keep_days"] else "for ever"
        oldest = (t["oldest"] or "-")[:19]
        lines.append(f"{t['table']:<36} {kept:>9} {t['rows']:>14,} {oldest:<21} {t['expired']:>15,}")
    lines.append("kept for ever: " + ", ".join(answer["kept"]))
    return "\n".join(lines + _archive_lines(answer.get("archive")))


def _archive_lines(archive: dict[str, Any] | None) -> list[str]:
    """What the archive holds per table, when there is one."""
    if archive is None:
        return []
    lines = [f"archived in {archive['dir']}:", f"{'table':<36} {'days':>6} {'first':<10}  {'last':<10} {'bytes':>14}"]
    for t in archive["tables"]:
        lines.append(f"{t['table']:<36} {t['days']:>6} {t['first']:<10}  {t['last']:<10} {t['bytes']:>14,}")
    return lines if archive["tables"] else [*lines[:1], "nothing yet"]


def register(app: typer.Typer) -> None:
    """Add the collector's commands to the ``trellis`` command."""
    app.command()(query)
    app.command()(status)
    app.command()(retention)
    app.command()(snapshot)
    app.add_typer(emit_app, name="emit")


__all__ = ["emit_app", "register"]
