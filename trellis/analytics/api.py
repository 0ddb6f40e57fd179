"""The analytics route on the collector's API: ``POST /api/v1/analyze``; mounted by ``trellis.server``."""

from __future__ import annotations

import logging
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from trellis.analytics.registry import JOBS, UnknownJob
from trellis.analytics.rollups import RollupService
from trellis.analytics.service import AnalyticsService, config_from_settings, period_from
from trellis.analytics.settings import AnalyticsSettings
from trellis.collector.api import ApiContext, ApiError, Caller, json_response, read_model
from trellis.collector.auth import Scope

log = logging.getLogger("trellis.analytics")

SCOPE = Scope.READ
"""Analyzing reads the store and replaces only the derived ``analytics_*`` tables, which any rerun rebuilds the
same; like a snapshot it costs time, not data. Runs are serialized, so a burst of requests queues."""


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date | datetime | None = Field(None, alias="from", description="First moment (a date is midnight UTC).")
    end: date | datetime | None = Field(None, alias="to", description="End of the period, not included.")
    jobs: list[str] | None = Field(None, description="Job names; all jobs when left out.")


def install(ctx: ApiContext, settings: AnalyticsSettings) -> None:
    """Start the scheduled runs and register ``POST /api/v1/analyze``."""
    service = AnalyticsService(ctx.store.cursor(), config_from_settings(settings), settings.analytics_window_days)
    service.start(settings.analytics_interval_seconds)
    ctx.on_shutdown.append(service.stop)
    rollups = RollupService(ctx.store)
    rollups.start(settings.rollup_interval_seconds)
    ctx.on_shutdown.append(rollups.stop)
    ctx.extensions["rollups"] = rollups
    ctx.extensions["analytics"] = service

    async def analyze(request: Request, caller: Caller) -> Response:
        body = await read_model(request, AnalyzeRequest)
        try:
            period = period_from(body.start, body.end, settings.analytics_window_days)
            results = await run_in_threadpool(service.run, period, body.jobs)
        except (UnknownJob, ValueError, ValidationError) as exc:
            raise ApiError(400, str(exc)) from None
        except Exception as exc:
            log.exception("analysis failed")
            raise ApiError(500, f"the analysis failed: {type(exc).__name__}: {exc}") from None
        return json_response(
            {
                "from": period.start.isoformat(),
                "to": period.end.isoformat(),
                "results": [
                    {"job": r.job, "table": JOBS[r.job].table, "rows": r.rows, "seconds": r.seconds} for r in results
                ],
            }
        )

    ctx.add("/api/v1/analyze", analyze, SCOPE, ["POST"])


__all__ = ["SCOPE", "AnalyzeRequest", "install"]
