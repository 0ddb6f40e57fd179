"""Every catalog operation once: its request model, the scope it needs, its HTTP route, and what it does.

The API serves these; the CLI and the Python client call them through the API
when a collector runs, or directly on the database file when none does. One
table, three doors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from trellis.catalog import audit, governance
from trellis.catalog.blast_radius import plan
from trellis.catalog.convergence import convergence
from trellis.catalog.documents import Source, parse_document
from trellis.catalog.export import export_documents
from trellis.catalog.gate import check
from trellis.catalog.importers import apply_import, importer_for
from trellis.catalog.integrity import state_problems
from trellis.catalog.matching import Context
from trellis.catalog.models import Id, Metadata, Name, ResourceDefinition
from trellis.catalog.policies import evaluate
from trellis.catalog.score import parse_workload
from trellis.catalog.service import Catalog, CatalogError


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Empty(Request):
    pass


class DocumentsRequest(Request):
    documents: list[dict[str, Any]] = Field(description="Catalog documents, as parsed from YAML.")
    dry_run: bool = False
    source: str = Field("request", description="Name used in error messages (a file name).")
    locations: list[tuple[str, int]] | None = Field(
        None, description="Per document, the file it came from and its place in that file."
    )


class ProposeRequest(Request):
    document: dict[str, Any]
    base_version: int | None = Field(None, description="The version the edit started from; stale edits fail.")


class VersionRequest(Request):
    definition: str
    version: int


class ApproveRequest(VersionRequest):
    content_hash: str | None = Field(None, description="The content the approver reviewed.")


class DeprecateRequest(VersionRequest):
    deadline: datetime


class WorkloadRequest(Request):
    workload: dict[str, Any] = Field(description="A Score file, as parsed from YAML.")
    app: Name
    env: Name
    env_type: Name | None = Field(None, description="Only a check against the environment's registered type.")
    record: bool = True
    source: str = "workload"


class ExplainRequest(Request):
    type: Id
    class_: Name = Field("default", alias="class")
    app: Name
    env: Name
    env_type: Name | None = Field(None, description="Only a check against the environment's registered type.")
    res_id: Id

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ImportRequest(Request):
    format: str = Field(description="The importer's name, a key of IMPORTERS: terraform or csv.")
    text: str = Field(description="The file's content: terraform show -json output, or the CSV layout.")
    file: str = Field(description="The file's name, recorded in provenance and named in errors.")
    namespace: str | None = Field(None, description="Keeps resources of several Terraform workspaces apart.")
    dry_run: bool = False


class DefinitionRequest(Request):
    definition: str


class AuditRequest(Request):
    limit: int = Field(100, ge=1, le=10_000)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    scope: str
    request: type[Request]
    run: Callable[[Catalog, str, Any], Any]
    needs_identity: bool = False
    writes: bool = True
    """False for an operation that changes nothing: it runs on a snapshot, beside writes."""


def _documents(body: DocumentsRequest) -> list[tuple[Any, Source]]:
    if body.locations is not None and len(body.locations) != len(body.documents):
        raise CatalogError("invalid request: locations must name one place per document")
    sources = [Source(*place) for place in body.locations] if body.locations else None
    out = []
    for i, raw in enumerate(body.documents):
        source = sources[i] if sources else Source(body.source, i)
        out.append((parse_document(raw, source), source))
    return out


def _apply(catalog: Catalog, actor: str, body: DocumentsRequest) -> Any:
    return {"changes": [c.as_dict() for c in catalog.apply(_documents(body), actor, body.dry_run)]}


def _plan(catalog: Catalog, actor: str, body: DocumentsRequest) -> Any:
    definitions = [doc for doc, _ in _documents(body) if isinstance(doc, ResourceDefinition)]
    return plan(catalog, definitions)


def _propose(catalog: Catalog, actor: str, body: ProposeRequest) -> Any:
    document = parse_document(body.document, Source("proposal", 0))
    if not isinstance(document, ResourceDefinition):
        raise CatalogError("only ResourceDefinition documents are proposed; apply other kinds")
    return catalog.propose(document, actor, body.base_version).as_dict()


def _approve(catalog: Catalog, actor: str, body: ApproveRequest) -> Any:
    return {"result": catalog.approve(body.definition, body.version, actor, body.content_hash)}


def _deprecate(catalog: Catalog, actor: str, body: DeprecateRequest) -> Any:
    catalog.deprecate(body.definition, body.version, body.deadline, actor)
    return {"result": f"version {body.version} of {body.definition} is deprecated until {body.deadline:%Y-%m-%d}"}


def _archive(catalog: Catalog, actor: str, body: VersionRequest) -> Any:
    catalog.archive(body.definition, body.version, actor)
    return {"result": f"version {body.version} of {body.definition} is archived"}


def _resolve(catalog: Catalog, actor: str, body: WorkloadRequest) -> Any:
    workload = parse_workload(body.workload, body.source)
    return catalog.resolve(workload, body.app, body.env, body.env_type, body.record, actor=actor)


def _check(catalog: Catalog, actor: str, body: WorkloadRequest) -> Any:
    workload = parse_workload(body.workload, body.source)
    decision = check(catalog, workload, body.app, body.env, body.env_type)
    if not decision.allow:
        where = {"app": body.app, "env": body.env, "env_type": decision.env_type, "workload": workload.name}
        catalog.announce("gate.denied", {**where, "reasons": decision.reasons, "asked_by": actor})
    return decision.as_json()


def _explain(catalog: Catalog, actor: str, body: ExplainRequest) -> Any:
    env_type, _ = catalog.environment_type(body.env, body.env_type)
    ctx = Context(body.app, body.env, env_type, body.res_id)
    explanation = catalog.explain(body.type, body.class_, ctx)
    winner = explanation.winner
    return {
        "definition": winner.definition_id if winner else None,
        "rule": winner.rule.describe() if winner else None,
        "lines": explanation.lines(),
    }


def _export(catalog: Catalog, actor: str, body: Empty) -> Any:
    return {"documents": export_documents(catalog)}


def _import(catalog: Catalog, actor: str, body: ImportRequest) -> Any:
    result = importer_for(body.format).read(body.text, body.file, namespace=body.namespace)
    return apply_import(catalog, result, actor, body.dry_run).as_dict()


def _definitions(catalog: Catalog, actor: str, body: Empty) -> Any:
    rows = []
    for definition_id in catalog.repo.definition_ids():
        definition = catalog.repo.definition(definition_id) or {}
        versions = [
            v.summary() | {"spec": v.spec.model_dump(mode="json", by_alias=True)}
            for v in catalog.repo.versions(definition_id)
        ]
        rows.append({**definition, "versions": versions})
    return {"definitions": rows}


def _pending(catalog: Catalog, actor: str, body: Empty) -> Any:
    pending = []
    for row in catalog.repo.versions(states=("proposed",)):
        active = catalog.active(row.definition_id)
        before = active.spec.model_dump(mode="json", by_alias=True) if active else None
        after = row.spec.model_dump(mode="json", by_alias=True)
        document = ResourceDefinition(
            apiVersion="trellis/v1", kind="ResourceDefinition", metadata=Metadata(id=row.definition_id), spec=row.spec
        )
        pending.append(
            {
                **row.summary(),
                "diff": audit.diff(before, after),
                "fields": audit.field_diff(before or {}, after),
                "impact": plan(catalog, [document])["summary"],
                "policies": [r.__dict__ for r in evaluate(catalog.policies(), row.spec)],
                "approvals": catalog.repo.approvals(row.definition_id, row.version, row.content_hash),
                "missing": catalog.missing_approvals(row),
                "approvers": catalog.eligible(row),
            }
        )
    return {"pending": pending + governance.pending(catalog)}


def _convergence(catalog: Catalog, actor: str, body: DefinitionRequest) -> Any:
    if catalog.repo.definition(body.definition) is None:
        raise CatalogError(f"definition {body.definition} does not exist", 404)
    return convergence(catalog, body.definition)


def _audit(catalog: Catalog, actor: str, body: AuditRequest) -> Any:
    rows = catalog.repo.rows(
        'SELECT seq, "at", actor, action, object, diff FROM catalog_audit ORDER BY seq DESC LIMIT ?', [body.limit]
    )
    keys = ("seq", "at", "actor", "action", "object", "diff")
    return {"entries": [dict(zip(keys, row, strict=True)) for row in rows]}


def _verify(catalog: Catalog, actor: str, body: Empty) -> Any:
    """The chain, then the tables against the log; ``problem`` is the first thing wrong."""
    result = audit.verify(catalog.con)
    if result.ok:
        result.state_problems = state_problems(catalog.repo)
        if result.state_problems:
            result.ok, result.problem = False, result.state_problems[0]
    return result.__dict__


OPERATIONS: dict[str, Operation] = {
    "apply": Operation("POST", "/api/v1/catalog/apply", "propose", DocumentsRequest, _apply),
    "import": Operation("POST", "/api/v1/catalog/import", "propose", ImportRequest, _import),
    "plan": Operation("POST", "/api/v1/catalog/plan", "read", DocumentsRequest, _plan, writes=False),
    "export": Operation("GET", "/api/v1/catalog/export", "read", Empty, _export, writes=False),
    "definitions": Operation("GET", "/api/v1/catalog/definitions", "read", Empty, _definitions, writes=False),
    "propose": Operation("POST", "/api/v1/catalog/propose", "propose", ProposeRequest, _propose),
    "pending": Operation("GET", "/api/v1/catalog/pending", "read", Empty, _pending, writes=False),
    "approve": Operation("POST", "/api/v1/catalog/approve", "approve", ApproveRequest, _approve, needs_identity=True),
    "deprecate": Operation("POST", "/api/v1/catalog/deprecate", "admin", DeprecateRequest, _deprecate),
    "archive": Operation("POST", "/api/v1/catalog/archive", "admin", VersionRequest, _archive),
    "resolve": Operation("POST", "/api/v1/resolve", "deploy", WorkloadRequest, _resolve),
    "check": Operation("POST", "/api/v1/deployments/check", "read", WorkloadRequest, _check),
    "explain": Operation("POST", "/api/v1/explain", "read", ExplainRequest, _explain, writes=False),
    "convergence": Operation(
        "POST", "/api/v1/catalog/convergence", "read", DefinitionRequest, _convergence, writes=False
    ),
    "audit": Operation("POST", "/api/v1/catalog/audit", "read", AuditRequest, _audit, writes=False),
    "verify": Operation("GET", "/api/v1/catalog/audit/verify", "read", Empty, _verify, writes=False),
}
"""The catalog's operations by name."""
