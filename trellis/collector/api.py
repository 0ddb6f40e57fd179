"""The collector's API: health, stats, read-only queries and snapshots.

Other packages add their routes through ``ApiContext``: the server that composes Trellis hands
``build_api`` one ``RouteInstaller`` per package (``trellis.server``); every route states the
scope it needs.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from trellis.collector.archive import Archive
from trellis.collector.auth import Authenticator, AuthError, Scope, grants
from trellis.collector.query import (
    QueryFailed,
    QueryRefused,
    QueryResult,
    arrow_ipc,
    run_query,
    to_json_bytes,
    too_long,
)
from trellis.collector.retention import RetentionPolicy, RetentionService
from trellis.collector.schedule import Every
from trellis.collector.schema import SCHEMA_VERSION, TABLES, stored_table
from trellis.collector.settings import DEFAULT_MAX_API_BODY_BYTES, CollectorSettings
from trellis.collector.snapshots import SnapshotRefused, Snapshots
from trellis.collector.store import Store

log = logging.getLogger("trellis.api")

ARROW_STREAM = "application/vnd.apache.arrow.stream"
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request, "Caller"], Awaitable[Response]]


class ApiError(Exception):
    """An error answer: status and a message a person can act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Caller:
    """Who is calling: the token's name (None when tokens are off)."""

    name: str | None


@dataclass
class ApiContext:
    store: Store
    auth: Authenticator
    settings: CollectorSettings
    started_at: float = field(default_factory=time.time)
    routes: list[Route] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)
    on_shutdown: list[Callable[[], None]] = field(default_factory=list)

    def every(self, name: str, interval: float, work: Callable[[], None]) -> None:
        """Call ``work`` every ``interval`` seconds in the background (0: never) until the collector stops."""
        schedule = Every(name, interval, work)
        schedule.start()
        self.on_shutdown.append(schedule.stop)

    def add(self, path: str, handler: Handler, scope: Scope, methods: list[str]) -> None:
        """Register an endpoint that needs ``scope``."""
        self.routes.append(Route(path, self._guard(handler, scope), methods=methods))

    def _guard(self, handler: Handler, scope: Scope) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                name = self.auth.require(request.headers.get("authorization"), scope)
                request.state.max_body_bytes = self.settings.max_api_body_bytes
                return await handler(request, Caller(name))
            except AuthError as exc:
                return error_response(exc.status, exc.message)
            except ApiError as exc:
                return error_response(exc.status, exc.message)
            except Exception:
                return internal_error(request)

        return endpoint


def json_response(data: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(data, default=str, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
    )


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def internal_error(request: Request) -> Response:
    """A 500 whose id is in the answer and, with the traceback, in the collector's log."""
    request_id = uuid.uuid4().hex[:16]
    log.exception("request %s: %s %s failed", request_id, request.method, request.url.path)
    answer = json_response(
        {"error": f"the collector failed; report request id {request_id}", "request_id": request_id}, 500
    )
    answer.headers["X-Request-Id"] = request_id
    return answer


async def read_body(request: Request) -> bytes:
    """The request's body, refused with 413 as soon as it passes the API's limit (``--max-api-body-bytes``):
    a declared length is checked before anything is read, a streamed one while it arrives."""
    limit: int = getattr(request.state, "max_body_bytes", DEFAULT_MAX_API_BODY_BYTES)
    too_large = ApiError(413, f"the request body is larger than {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_model(request: Request, model: type[M]) -> M:
    """The request's JSON body validated by ``model``; 400 naming the field otherwise."""
    body = await read_body(request)
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"invalid request: {where}: {first['msg']}") from None


ParamScalar = str | int | float | bool | None
ParamValue = ParamScalar | list[ParamScalar]
"""What a placeholder may be bound to: JSON's scalars, or a list of them (for ``list_contains``)."""


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, description="One read-only statement.")
    limit: int | None = Field(None, ge=1, description="Most rows to return; capped by the server's limit.")
    params: list[ParamValue] | dict[str, ParamValue] | None = Field(
        None, description="Values for the placeholders: a list for ?, an object for $name."
    )


def _table_rows(store: Store) -> dict[str, int]:
    """Rows per table, counted: ``estimated_size`` also counts the old versions of upserted rows.

    A signal table's rows are counted in the table that stores them, without the view's join."""
    cursor = store.cursor()
    names = cursor.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' ORDER BY table_name"
    ).fetchall()
    if not names:
        return {}

    def count(name: str) -> str:
        literal, identifier = name.replace("'", "''"), name.replace('"', '""')
        return f"SELECT '{literal}', count(*) FROM main.\"{identifier}\""

    counts = " UNION ALL ".join(count(name) for (name,) in names)
    queried = {stored_table(table): table for table in TABLES}  # signal tables are views over these
    return dict(sorted((queried.get(name, name), int(rows)) for name, rows in cursor.execute(counts).fetchall()))


def _memory_used(store: Store) -> int:
    """Bytes DuckDB holds now (buffers, indexes, query state): the part of the collector's memory
    that ``--duckdb-memory-limit`` bounds."""
    row = store.cursor().execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
    return int(row[0] or 0) if row else 0


def _answer_query(ctx: ApiContext, body: QueryRequest, arrow: bool) -> tuple[bytes, QueryResult]:
    """Run a query and serialize its answer, both within the query time limit."""
    settings = ctx.settings
    deadline = time.monotonic() + settings.query_timeout_seconds
    limit = min(body.limit or settings.query_row_limit, settings.query_row_limit)
    cursor = ctx.store.cursor()
    with contextlib.closing(cursor):
        result = run_query(
            cursor, body.sql, limit, settings.query_timeout_seconds, body.params, settings.query_byte_limit
        )
    if arrow:
        content = arrow_ipc(result.table)
    else:
        content = to_json_bytes(result.table, {"truncated": result.truncated, "truncated_by": result.cut_by})
    if time.monotonic() > deadline:
        raise QueryFailed(too_long(settings.query_timeout_seconds))
    return content, result


def _memory_limit(store: Store) -> str:
    """DuckDB's buffer memory limit as DuckDB shows it (queries cannot read settings)."""
    row = store.cursor().execute("SELECT current_setting('memory_limit')").fetchone()
    return str(row[0]) if row else ""


def add_core_routes(ctx: ApiContext) -> None:
    """Health, stats, query and snapshot."""

    async def health(request: Request, caller: Caller) -> Response:
        answer = {"status": "ok", "schema_version": SCHEMA_VERSION, "uptime_s": time.time() - ctx.started_at}
        failure = ctx.store.health.failure
        if failure is not None:
            return json_response({**answer, "status": "unhealthy", "reason": failure}, 503)
        return json_response(answer)

    async def stats(request: Request, caller: Caller) -> Response:
        counters = ctx.store.counters
        return json_response(
            {
                "tables": await run_in_threadpool(_table_rows, ctx.store),
                "points_ingested": counters.points_ingested,
                "points_rejected": counters.points_rejected,
                "commits": counters.commits,
                "ingest_rate_per_s": counters.rate(),
                "write_queue_points": ctx.store.queued_points,
                "write_queue_bytes": ctx.store.queued_bytes,
                "last_commit_at": counters.last_commit_at,
                "duckdb_memory_limit": await run_in_threadpool(_memory_limit, ctx.store),
                "duckdb_memory_bytes": await run_in_threadpool(_memory_used, ctx.store),
            }
        )

    async def query(request: Request, caller: Caller) -> Response:
        body = await read_model(request, QueryRequest)
        arrow = ARROW_STREAM in request.headers.get("accept", "")
        try:
            content, result = await run_in_threadpool(_answer_query, ctx, body, arrow)
        except (QueryRefused, QueryFailed) as exc:
            raise ApiError(400, str(exc)) from None
        headers = {"X-Trellis-Truncated": "true" if result.truncated else "false"}
        if result.cut_by:
            headers["X-Trellis-Truncated-By"] = result.cut_by
        return Response(content, media_type=ARROW_STREAM if arrow else "application/json", headers=headers)

    snapshots = Snapshots(ctx.store.path, ctx.store.snapshot_dir, ctx.settings.max_snapshots)

    async def snapshot(request: Request, caller: Caller) -> Response:
        try:
            path = await run_in_threadpool(snapshots.take, ctx.store.cursor())
        except SnapshotRefused as exc:
            raise ApiError(503, str(exc)) from None
        headers = {"Content-Length": str(path.stat().st_size)}
        return StreamingResponse(snapshots.stream(path), media_type="application/octet-stream", headers=headers)

    async def whoami(request: Request) -> Response:
        """Who the bearer token belongs to and what it may do; any valid token may ask."""
        if not ctx.auth.enabled:
            return json_response({"name": None, "scopes": [s.value for s in Scope], "groups": [], "tokens": False})
        token = ctx.auth.identify(request.headers.get("authorization"))
        if token is None:
            missing = not request.headers.get("authorization")
            return error_response(401, "a bearer token is required" if missing else "the bearer token is not valid")
        scopes = [s.value for s in Scope if grants(token.scopes, s)]
        return json_response({"name": token.name, "scopes": scopes, "groups": token.groups, "tokens": True})

    async def guarded_whoami(request: Request) -> Response:
        try:
            return await whoami(request)
        except Exception:
            return internal_error(request)

    ctx.routes.append(Route("/api/v1/whoami", guarded_whoami, methods=["GET"]))
    ctx.add("/api/v1/health", health, Scope.READ, ["GET"])
    ctx.add("/api/v1/stats", stats, Scope.READ, ["GET"])
    ctx.add("/api/v1/query", query, Scope.READ, ["POST"])
    ctx.add("/api/v1/snapshot", snapshot, Scope.READ, ["POST"])
    _add_retention_routes(ctx)


def _add_retention_routes(ctx: ApiContext) -> None:
    """Start the scheduled retention sweeps; ``GET /api/v1/retention`` (what is kept, what a sweep would
    remove) and ``POST /api/v1/retention/sweep`` (sweep now; admin)."""
    s = ctx.settings
    policy = RetentionPolicy(
        metrics=s.retention_metrics_days, logs=s.retention_logs_days, traces=s.retention_traces_days
    )
    archive = Archive(s.archive_dir) if s.archive_dir else None
    service = RetentionService(ctx.store.cursor(), policy, archive)
    if service.enabled:
        ctx.every("trellis-retention", s.retention_interval_seconds, service.scheduled_sweep)

    async def show(request: Request, caller: Caller) -> Response:
        tables = await run_in_threadpool(service.report)
        return json_response(
            {
                "policy": policy.model_dump(),
                "interval_seconds": s.retention_interval_seconds if service.enabled else 0,
                "kept": ["deployments", "incidents", "the catalog"],
                "tables": [t.as_json() for t in tables],
                "last_sweep": service.last_sweep,
                "archive": await run_in_threadpool(_archive_json, archive),
            }
        )

    async def sweep_now(request: Request, caller: Caller) -> Response:
        result = await run_in_threadpool(service.sweep)
        return json_response(result, 503 if result["error"] else 200)

    ctx.add("/api/v1/retention", show, Scope.READ, ["GET"])
    ctx.add("/api/v1/retention/sweep", sweep_now, Scope.ADMIN, ["POST"])


def _archive_json(archive: Archive | None) -> dict[str, Any] | None:
    """Where the archive is and what it holds per signal table; None without one."""
    if archive is None:
        return None
    return {"dir": str(archive.root), "tables": [t.as_json() for t in archive.tables()]}


RouteInstaller = Callable[[ApiContext], None]
"""Adds a package's routes to the API (``ctx.add``), and may start its background work, registering
how to stop it in ``ctx.on_shutdown``. Called once, before the API serves its first request."""


def build_api(ctx: ApiContext, installers: Sequence[RouteInstaller] = ()) -> Starlette:
    """The core routes, then each installer's, as one application."""
    add_core_routes(ctx)
    for install in installers:
        install(ctx)
    return Starlette(routes=ctx.routes)


__all__ = [
    "ARROW_STREAM",
    "ApiContext",
    "ApiError",
    "Caller",
    "Handler",
    "ParamValue",
    "QueryRequest",
    "RouteInstaller",
    "add_core_routes",
    "build_api",
    "error_response",
    "internal_error",
    "json_response",
    "read_body",
    "read_model",
]
