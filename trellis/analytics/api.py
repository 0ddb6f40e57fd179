"""The analytics routes on the collector's API: ``POST /api/v1/analytics/{job}`` (a job's answer for a
period, teams and environments, computed for the request) and ``POST /api/v1/analyze`` (the scheduled
run, now); mounted by ``trellis.server``."""

from __future__ import annotations

import logging
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from trellis.analytics.answers import Answers, Busy
from trellis.analytics.registry import JOBS, UnknownJob
from trellis.analytics.rollups import RollupService
from trellis.analytics.service import AnalyticsService, config_from_settings, period_from
from trellis.analytics.settings import AnalyticsSettings
from trellis.analytics.slices import Slice
from trellis.collector import (
    ARROW_STREAM,
    ApiContext,
    ApiError,
    Caller,
    Scope,
    arrow_ipc,
    json_response,
    read_model,
    to_json_ready,
)

log = logging.getLogger("trellis.analytics")

SCOPE = Scope.ADMIN
"""Analyzing replaces the ``analytics_*`` tables every notebook reads, for the period asked: what one
caller asks would change what everyone sees, so it takes admin. Anyone who reads asks for an answer
instead (``POST /api/v1/analytics/{job}``), computed for the request and written nowhere."""


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date | datetime | None = Field(None, alias="from", description="First moment (a date is midnight UTC).")
    end: date | datetime | None = Field(None, alias="to", description="End of the period, not included.")
    jobs: list[str] | None = Field(None, description="Job names; all jobs when left out.")


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date | datetime | None = Field(None, alias="from", description="First moment (a date is midnight UTC).")
    end: date | datetime | None = Field(None, alias="to", description="End of the period, not included.")
    teams: list[str] = Field(default_factory=list, max_length=200, description="Teams; all when empty.")
    environments: list[str] = Field(default_factory=list, max_length=200, description="Environments; all when empty.")


def install(ctx: ApiContext, settings: AnalyticsSettings) -> None:
    """Start the scheduled runs and register ``POST /api/v1/analyze``."""
    service = AnalyticsService(ctx.store.cursor(), config_from_settings(settings), settings.analytics_window_days)
    ctx.every("trellis-analytics", settings.analytics_interval_seconds, service.scheduled_run)
    rollups = RollupService(ctx.store, settings.retention_rollups_days)
    ctx.every("trellis-rollups", settings.rollup_interval_seconds, rollups.scheduled_turn)
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

    answers = Answers(ctx.store.cursor(), config_from_settings(settings))

    async def answer(request: Request, caller: Caller) -> Response:
        body = await read_model(request, AnswerRequest)
        try:
            period = period_from(body.start, body.end, settings.analytics_window_days)
            asked = Slice(tuple(body.teams), tuple(body.environments))
            found = await run_in_threadpool(answers.answer, request.path_params["job"], period, asked)
        except UnknownJob as exc:
            raise ApiError(404, str(exc)) from None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        except Busy as exc:
            raise ApiError(503, str(exc)) from None
        if ARROW_STREAM in request.headers.get("accept", ""):
            return Response(arrow_ipc(found.frame.to_arrow()), media_type=ARROW_STREAM)
        return json_response(
            {
                "job": found.job,
                "from": period.start.isoformat(),
                "to": period.end.isoformat(),
                "teams": body.teams,
                "environments": body.environments,
                "covers": found.covers,
                "seconds": round(found.seconds, 3),
                **to_json_ready(found.frame.to_arrow()),
            }
        )

    ctx.add("/api/v1/analytics/{job}", answer, Scope.READ, ["POST"])


__all__ = ["SCOPE", "AnalyzeRequest", "install"]
