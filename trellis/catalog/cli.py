"""The catalog's commands: ``trellis resources ...``, ``resolve``, ``check``, ``explain`` and ``audit``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from trellis.catalog.client import CatalogClient, connect
from trellis.catalog.documents import read_path
from trellis.catalog.export import write_documents
from trellis.catalog.importers import IMPORTERS, importer_for
from trellis.catalog.plan_text import headline, plan_lines
from trellis.catalog.service import CatalogError
from trellis.collector.options import ApiOpt, DbFileOpt, TokenOpt, collector_settings

resources_app = typer.Typer(no_args_is_help=True, help="Resource types, definitions, policies, approvals and pins.")
audit_app = typer.Typer(no_args_is_help=True, help="The catalog's audit log.")

DefinitionArg = typer.Argument(..., help="Definition id.")
VersionArg = typer.Argument(..., help="Version number.")
AppOpt = typer.Option(..., "--app", help="App id.")
EnvOpt = typer.Option(..., "--env", help="Environment id.")
EnvTypeOpt = typer.Option(
    None,
    "--env-type",
    help="Only a check: refused when the environment's registered type differs (needed only while no "
    "environment is registered).",
)
TokensFileOpt = typer.Option(None, "--tokens-file", help="Tokens file, to know who you are when using --db.")


def call(name: str, payload: dict[str, Any] | None, api: str | None, token: str | None, db: Path | None) -> Any:
    """Run one catalog operation through the collector, or on the file when none runs."""
    catalog = open_catalog(api, token, db)
    try:
        return catalog.call(name, payload)
    finally:
        catalog.close()


def open_catalog(api: str | None, token: str | None, db: Path | None, tokens_file: Path | None = None) -> CatalogClient:
    settings = collector_settings(api=api, token=token)
    return connect(settings.api, settings.token, db or settings.db, tokens_file, prefer_db=db is not None)


def _raw_documents(path: Path) -> dict[str, Any]:
    """The documents of a file or folder as an apply/plan payload, each with the file it came from."""
    documents = read_path(path)
    raws = [doc.model_dump(mode="json", by_alias=True, exclude_defaults=True) for doc, _ in documents]
    for raw, (doc, _) in zip(raws, documents, strict=True):
        raw.setdefault("apiVersion", doc.apiVersion)
        raw.setdefault("kind", doc.kind)
    locations = [[source.file, source.index] for _, source in documents]
    return {"documents": raws, "source": str(path), "locations": locations}


def _print_changes(changes: list[dict[str, Any]], header: str) -> None:
    typer.echo(header)
    for change in changes:
        detail = f" - {change['detail']}" if change["detail"] else ""
        typer.echo(f"  {change['action']:<10} {change['kind']}/{change['id']}{detail}")
        for warning in change["warnings"]:
            typer.echo(f"             warning: {warning}")


@resources_app.command()
def apply(
    file: Path = typer.Option(..., "-f", "--file", help="A YAML file or a folder of them."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; change nothing."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
    tokens_file: Path = TokensFileOpt,
) -> None:
    """Apply catalog documents idempotently, showing the plan first."""
    payload = _raw_documents(file)
    catalog = open_catalog(api, token, db, tokens_file)
    try:
        planned = catalog.call("apply", {**payload, "dry_run": True})["changes"]
        _print_changes(planned, f"plan ({catalog.where}):")
        if dry_run or all(c["action"] == "unchanged" for c in planned):
            return
        applied = catalog.call("apply", payload)["changes"]
        _print_changes(applied, "applied:")
    finally:
        catalog.close()


def _import(fmt: str, path: Path, namespace: str | None, dry_run: bool, api: str | None, token: str | None,
            db: Path | None) -> None:  # fmt: skip
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    payload = {"format": fmt, "text": text, "file": str(path), "namespace": namespace}
    catalog = open_catalog(api, token, db)
    try:
        report = catalog.call("import", {**payload, "dry_run": True})
        _print_changes(report["changes"], f"plan ({catalog.where}):")
        for skipped in report["skipped"]:
            typer.echo(f"  skipped    {skipped['address']}: {skipped['reason']}")
        for gone in report["vanished"]:
            typer.echo(f"  vanished   {gone} (no longer in the file; left as it is)")
        if not dry_run and any(c["action"] != "unchanged" for c in report["changes"]):
            _print_changes(catalog.call("import", payload)["changes"], "imported:")
    finally:
        catalog.close()


@resources_app.command("import", no_args_is_help=True)
def import_resources(
    format_name: str = typer.Argument(..., metavar="format", help=f"The file's format: {' or '.join(IMPORTERS)}."),
    file: Path = typer.Argument(
        ..., help="; ".join(f"{name}: {importer.reads}" for name, importer in IMPORTERS.items()) + "."
    ),
    namespace: str = typer.Option(None, help="Keeps resources of several Terraform workspaces apart."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be imported; change nothing."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
) -> None:
    """Import legacy resources from a file (a Terraform state, a CSV file) as static, legacy definitions."""
    importer_for(format_name)  # an unknown format is refused before the file is read
    _import(format_name, file, namespace, dry_run, api, token, db)


@resources_app.command()
def export(
    folder: Path = typer.Argument(..., help="Folder to write the documents into."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
) -> None:
    """Write the catalog as YAML files that apply cleanly (a GitOps round trip)."""
    catalog = open_catalog(api, token, db)
    try:
        written = write_documents(catalog.call("export")["documents"], folder)
    finally:
        catalog.close()
    typer.echo(f"wrote {len(written)} documents to {folder}")


@resources_app.command()
def plan(
    file: Path = typer.Option(..., "-f", "--file", help="Proposed definitions (file or folder)."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
) -> None:
    """Blast radius: every consumer whose binding changes at its next deployment, and moves already pending."""
    for line in plan_lines(call("plan", _raw_documents(file), api, token, db)):
        typer.echo(line)


@resources_app.command("list")
def list_definitions(api: str = ApiOpt, token: str = TokenOpt, db: Path = DbFileOpt) -> None:
    """Definitions with their versions and states."""
    definitions = call("definitions", None, api, token, db)["definitions"]
    for d in definitions:
        states = ", ".join(f"v{v['version']} {v['state']}" for v in d["versions"])
        typer.echo(f"{d['id']:<32} {d['type']:<12} {'legacy ' if d['legacy'] else ''}{states}")


@resources_app.command()
def pending(api: str = ApiOpt, token: str = TokenOpt, db: Path = DbFileOpt) -> None:
    """Proposals awaiting approval, with their diff, policy results and missing approvals."""
    catalog = open_catalog(api, token, db)
    try:
        typer.echo(json.dumps(catalog.call("pending")["pending"], indent=2, default=str))
    finally:
        catalog.close()


@resources_app.command()
def approve(
    definition: str = DefinitionArg,
    version: int = VersionArg,
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
    tokens_file: Path = TokensFileOpt,
    yes: bool = typer.Option(False, "--yes", help="Approve what is shown without asking."),
    content_hash: str | None = typer.Option(
        None, "--content-hash", help="Approve only this content (its hash, or the first characters of it)."
    ),
) -> None:
    """Show a proposed version's change and blast radius, then approve exactly that content; it activates when
    the rules are met."""
    catalog = open_catalog(api, token, db, tokens_file)
    try:
        pending = catalog.call("pending")["pending"]
        waiting = [p for p in pending if (p["definition"], p["version"]) == (definition, version)]
        # with nothing to review, the catalog says why the version cannot be approved
        seen = _review(waiting[0], content_hash, yes) if waiting else content_hash
        payload = {"definition": definition, "version": version, "content_hash": seen}
        typer.echo(catalog.call("approve", payload)["result"])
    finally:
        catalog.close()


def _review(item: dict[str, Any], content_hash: str | None, yes: bool) -> str:
    """Print what the approver approves; returns the content hash they saw (or gave)."""
    typer.echo(f"{item['definition']} version {item['version']}, proposed by {item['proposed_by']}, "
               f"content {item['content_hash'][:12]}")  # fmt: skip
    for change in item["fields"]:
        typer.echo(f"  {change['field']}: {change['before']!r} -> {change['after']!r}")
    typer.echo(headline(item["impact"]))
    if content_hash is not None and not item["content_hash"].startswith(content_hash):
        raise CatalogError("the version's content is not the one you reviewed (--content-hash); review it again")
    if not (yes or content_hash):
        if not sys.stdin.isatty():
            raise CatalogError(
                "approving without a terminal needs --yes, or --content-hash with the content you reviewed"
            )
        typer.confirm("Approve this change?", abort=True)
    return str(item["content_hash"])


@resources_app.command()
def deprecate(
    definition: str = DefinitionArg,
    version: int = VersionArg,
    deadline: datetime = typer.Option(..., help="When consumers must have moved on."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
) -> None:
    """Deprecate a version with a deadline."""
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=UTC)
    payload = {"definition": definition, "version": version, "deadline": deadline.isoformat()}
    _print_result("deprecate", payload, api, token, db)


@resources_app.command()
def archive(
    definition: str = DefinitionArg,
    version: int = VersionArg,
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
) -> None:
    """Archive a deprecated version; deployments on it are denied."""
    _print_result("archive", {"definition": definition, "version": version}, api, token, db)


@resources_app.command("convergence")
def convergence_command(
    definition: str = DefinitionArg, api: str = ApiOpt, token: str = TokenOpt, db: Path = DbFileOpt
) -> None:
    """Which consumers run the active version, and who lags behind."""
    result = call("convergence", {"definition": definition}, api, token, db)
    share = result["share_on_active"]
    typer.echo(
        f"{definition}: active v{result['active_version']}, {result['on_active']}/{result['consumers']} consumers on it"
        + (f" ({share:.0%})" if share is not None else "")
    )
    for row in result["rows"]:
        lag = "" if row["on_active"] else f"  behind {row['behind_days']:.1f} days"
        typer.echo(f"  {row['app']}/{row['env']}/{row['workload']}.{row['resource']}: v{row['version']}{lag}")


def _print_result(
    name: str, payload: dict[str, Any], api: str | None, token: str | None, db: Path | None, tokens: Path | None = None
) -> None:
    catalog = open_catalog(api, token, db, tokens)
    try:
        typer.echo(catalog.call(name, payload)["result"])
    finally:
        catalog.close()


def _workload(path: Path) -> dict[str, Any]:
    from trellis.catalog.score import read_workload

    return read_workload(path).model_dump(mode="json", by_alias=True, exclude_none=True)


def resolve(
    score: Path = typer.Argument(..., help="Score file of the workload."),
    app: str = AppOpt,
    env: str = EnvOpt,
    env_type: str | None = EnvTypeOpt,
    as_json: bool = typer.Option(False, "--json", help="Print only the JSON."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
) -> None:
    """Resolve every resource of a workload to a definition, version and outputs; records the bindings."""
    payload = {"workload": _workload(score), "app": app, "env": env, "env_type": env_type, "source": str(score)}
    result = call("resolve", payload, api, token, db)
    for warning in result["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    typer.echo(f"{result['workload']} in {result['app']}/{result['env']} ({result['env_type']}):")
    for name, r in result["resources"].items():
        typer.echo(f"  {name}: {r['type']}/{r['class']} -> {r['definition']} v{r['version']}")
        for key, value in r["outputs"].items():
            typer.echo(f"      {key}: {value}")


def check(
    score: Path = typer.Argument(..., help="Score file of the workload."),
    app: str = AppOpt,
    env: str = EnvOpt,
    env_type: str | None = EnvTypeOpt,
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
) -> None:
    """Allow or deny a deployment before it happens; exits 1 on deny, with the reasons."""
    payload = {"workload": _workload(score), "app": app, "env": env, "env_type": env_type, "source": str(score)}
    result = call("check", payload, api, token, db)
    for warning in result["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    if result["decision"] == "allow":
        typer.echo("allow")
        return
    typer.echo("deny", err=True)
    for reason in result["reasons"]:
        typer.echo(f"  {reason}", err=True)
    raise typer.Exit(1)


def explain(
    type_: str = typer.Option(..., "--type", help="Resource type."),
    class_: str = typer.Option("default", "--class", help="Resource class."),
    app: str = AppOpt,
    env: str = EnvOpt,
    env_type: str | None = EnvTypeOpt,
    res_id: str = typer.Option(..., help="WORKLOAD.RESOURCE, or shared.ID for a shared resource."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
) -> None:
    """Why a definition matches a context, and why the other candidates lost."""
    payload = {"type": type_, "class": class_, "app": app, "env": env, "env_type": env_type, "res_id": res_id}
    result = call("explain", payload, api, token, db)
    if result["definition"] is None:
        typer.echo(f"no definition of type {type_} and class {class_} matches")
    for line in result["lines"]:
        typer.echo(line)


@audit_app.command()
def verify(api: str = ApiOpt, token: str = TokenOpt, db: Path = DbFileOpt) -> None:
    """Check the audit log's hash chain and the catalog's tables against it; exits 1 on any difference."""
    result = call("verify", None, api, token, db)
    if result["ok"]:
        typer.echo(f"audit log intact: {result['entries']} entries, head {result['head']}; the catalog matches it")
        return
    if not result["state_problems"]:
        typer.echo(f"audit log broken: {result['problem']}", err=True)
    else:
        typer.echo(f"catalog differs from its audit log: {'; '.join(result['state_problems'])}", err=True)
    raise typer.Exit(1)


@audit_app.command("log")
def audit_log(
    limit: int = typer.Option(50, help="How many entries, newest first."),
    api: str = ApiOpt,
    token: str = TokenOpt,
    db: Path = DbFileOpt,
) -> None:
    """The latest audit entries."""
    entries = call("audit", {"limit": limit}, api, token, db)["entries"]
    for e in entries:
        typer.echo(f"{e['seq']:>5} {e['at']} {e['actor']:<16} {e['action']:<12} {e['object']}")


def register(app: typer.Typer) -> None:
    """Add the catalog's commands to the ``trellis`` command."""
    app.add_typer(resources_app, name="resources")
    app.add_typer(audit_app, name="audit")
    app.command()(resolve)
    app.command()(check)
    app.command()(explain)
