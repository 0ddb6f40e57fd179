"""The retention routes: ``GET /api/v1/retention`` (what is kept, what a sweep would remove) and
``POST /api/v1/retention/sweep`` (sweep now; admin), and the scheduled sweeps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from trellis.collector.auth import Scope
from trellis.collector.retention import RetentionPolicy, RetentionService

if TYPE_CHECKING:
    from trellis.collector.api import ApiContext, Caller


def install_retention(ctx: ApiContext) -> None:
    """Start the scheduled sweeps and register the routes."""
    from trellis.collector.api import json_response

    s = ctx.settings
    policy = RetentionPolicy(
        metrics=s.retention_metrics_days, logs=s.retention_logs_days, traces=s.retention_traces_days
    )
    service = RetentionService(ctx.store.cursor(), policy)
    service.start(s.retention_interval_seconds)
    ctx.on_shutdown.append(service.stop)
    ctx.extensions["retention"] = service

    async def show(request: Request, caller: Caller) -> Response:
        tables = await run_in_threadpool(service.report)
        return json_response(
            {
                "policy": policy.model_dump(),
                "interval_seconds": s.retention_interval_seconds if service.enabled else 0,
                "kept": ["deployments", "incidents", "the catalog"],
                "tables": [t.as_json() for t in tables],
                "last_sweep": service.last_sweep,
            }
        )

    async def sweep_now(request: Request, caller: Caller) -> Response:
        return json_response(await run_in_threadpool(service.sweep))

    ctx.add("/api/v1/retention", show, Scope.READ, ["GET"])
    ctx.add("/api/v1/retention/sweep", sweep_now, Scope.ADMIN, ["POST"])


__all__ = ["install_retention"]
