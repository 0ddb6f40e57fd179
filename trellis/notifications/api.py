"""The notifications in the collector: the scheduled turns and ``GET /api/v1/notifications``; installed by
``trellis.server`` when a notifications file is given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from trellis.analytics import AnalyticsConfig, Answers
from trellis.collector import ApiContext, ApiError, Caller, Scope, json_response
from trellis.notifications import outbox
from trellis.notifications.rules import read_notifications
from trellis.notifications.service import NotificationService
from trellis.notifications.settings import NotificationsSettings

LIST_LIMIT = 500
"""The most notifications ``GET /api/v1/notifications`` lists."""


def install(ctx: ApiContext, settings: NotificationsSettings, analytics: AnalyticsConfig | None = None) -> None:
    """Start the notifications' turns (after the catalog's routes, whose events they follow) and their route;
    ``analytics`` is the jobs' configuration the conditions read from answers use (none: they find nothing)."""
    if settings.notifications_file is not None:
        _start(ctx, settings, analytics)

    async def listing(request: Request, caller: Caller) -> Response:
        limit = request.query_params.get("limit", "100")
        if not limit.isdigit() or not 0 < int(limit) <= LIST_LIMIT:
            raise ApiError(400, f"limit must be a whole number from 1 to {LIST_LIMIT}")
        rows = await run_in_threadpool(_recent, ctx, int(limit))
        return json_response({"configured": settings.notifications_file is not None, "notifications": rows})

    ctx.add("/api/v1/notifications", listing, Scope.READ, ["GET"])


def _recent(ctx: ApiContext, limit: int) -> list[dict[str, Any]]:
    """The latest notifications on a cursor of the request's own: requests run side by side."""
    cursor = ctx.store.cursor()
    try:
        return outbox.recent(cursor, limit)
    finally:
        cursor.close()


def _start(ctx: ApiContext, settings: NotificationsSettings, analytics: AnalyticsConfig | None) -> None:
    assert settings.notifications_file is not None
    config = read_notifications(settings.notifications_file)
    catalog = ctx.extensions.get("catalog")
    answers = Answers(ctx.store.cursor(), analytics) if analytics is not None else None
    refusals = ctx.extensions.get("webhook_refusals")
    counts = refusals.counts if refusals is not None else None
    service = NotificationService(ctx.store.cursor(), config, catalog, answers, counts)
    if catalog is not None:
        catalog.on_event = _both(catalog.on_event, service.on_catalog_event)
    ctx.every("trellis-notifications", settings.notifications_interval_seconds, service.scheduled_turn)
    ctx.extensions["notifications"] = service


Handler = Callable[[str, dict[str, Any]], None]


def _both(first: Handler | None, second: Handler) -> Handler:
    """Call the catalog's own event handler (its webhooks), then the notifications'."""

    def handle(name: str, payload: dict[str, Any]) -> None:
        if first is not None:
            first(name, payload)
        second(name, payload)

    return handle


__all__ = ["LIST_LIMIT", "install"]
