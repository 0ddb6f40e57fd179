"""``POST /api/v1/webhooks/{source}``: a delivery is checked, read and mapped, and answered once its rows
are committed, as an OTLP export is.

The route needs no bearer token: senders prove themselves with the source's secret instead (a
signature or a token header), which each receiver checks. ``GET /api/v1/webhooks`` (read scope) says per
source what arrived and what became of it: the outcomes ``webhook_deliveries`` holds, and the deliveries
refused since the collector started (kept in memory: a refusal changes nothing stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trellis.collector.api import (
    ApiContext,
    ApiError,
    Caller,
    RouteInstaller,
    error_response,
    internal_error,
    json_response,
    read_body,
)
from trellis.collector.auth import Scope
from trellis.collector.batch import ExportBatch
from trellis.collector.ingest import refused_for_content
from trellis.collector.store import QueueFull, Store
from trellis.collector.webhooks.connectors import Connector
from trellis.collector.webhooks.intake import Answer, StoredLookups, take
from trellis.collector.webhooks.receiver import Receiver
from trellis.collector.webhooks.records import OUTCOMES
from trellis.collector.webhooks.registry import RECEIVERS

log = logging.getLogger("trellis.webhooks.receive")

WEBHOOK_PATH = "/api/v1/webhooks/{source}"
STORED_OUTCOMES = tuple(outcome for outcome in OUTCOMES if outcome != "refused")


class Busy(Exception):
    """The store cannot take the delivery now; the sender should deliver it again later."""


def webhook_routes(connectors: Mapping[str, Connector]) -> RouteInstaller:
    """The installer of the webhook route, for the sources the connectors file configures."""

    def install(ctx: ApiContext) -> None:
        one_at_a_time = {source: asyncio.Lock() for source in connectors}
        refusals = Refusals()
        ctx.extensions["webhook_refusals"] = refusals

        async def endpoint(request: Request) -> Response:
            try:
                return await _receive(ctx, connectors, one_at_a_time, refusals, request)
            except ApiError as exc:
                return error_response(exc.status, exc.message)
            except Busy as exc:
                answer = error_response(503, str(exc))
                answer.headers["Retry-After"] = str(ctx.settings.retry_after_seconds)
                return answer
            except Exception:
                return internal_error(request)

        async def summary(request: Request, caller: Caller) -> Response:
            found = await run_in_threadpool(_outcomes, ctx.store)
            return json_response({"sources": _summary(connectors, found, refusals)})

        ctx.routes.append(Route(WEBHOOK_PATH, endpoint, methods=["POST"]))
        ctx.add("/api/v1/webhooks", summary, Scope.READ, ["GET"])

    return install


class Refusals:
    """Deliveries refused per source since the start, with the last reason: kept in memory only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last: dict[str, tuple[float, str]] = {}

    def add(self, source: str, reason: str) -> None:
        with self._lock:
            self._counts[source] = self._counts.get(source, 0) + 1
            self._last[source] = (time.time(), reason)

    def counts(self) -> dict[str, int]:
        """Deliveries refused per source since the start (what the notifications' webhook.failing reads)."""
        with self._lock:
            return dict(self._counts)

    def of(self, source: str) -> dict[str, Any]:
        with self._lock:
            at, reason = self._last.get(source, (None, None))
            return {"refused": self._counts.get(source, 0), "last_refused_at": at, "last_refused_reason": reason}


def _outcomes(store: Store) -> dict[str, dict[str, Any]]:
    cursor = store.cursor()
    with contextlib.closing(cursor):
        rows = cursor.execute(
            """SELECT source, outcome, count(*), epoch(max(received_at)) FROM webhook_deliveries
               GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
    found: dict[str, dict[str, Any]] = {}
    for source, outcome, count, last in rows:
        entry = found.setdefault(source, {"last_received_at": None})
        entry[outcome] = int(count)
        entry["last_received_at"] = max(filter(None, (entry["last_received_at"], float(last))))
    return found


def _summary(
    connectors: Mapping[str, Connector], found: dict[str, dict[str, Any]], refusals: Refusals
) -> list[dict[str, Any]]:
    """Per configured source: deliveries by outcome, when the last arrived, and the refusals."""
    return [
        {"source": source, **{outcome: found.get(source, {}).get(outcome, 0) for outcome in STORED_OUTCOMES},
         "last_received_at": found.get(source, {}).get("last_received_at"), **refusals.of(source)}
        for source in sorted(connectors)
    ]  # fmt: skip


def _receiver(connectors: Mapping[str, Connector], source: str) -> tuple[Receiver[Any], Connector]:
    receiver = RECEIVERS.get(source)
    if receiver is None:
        raise ApiError(404, f"there is no webhook receiver for {source!r}; there are {', '.join(sorted(RECEIVERS))}")
    connector = connectors.get(source)
    if connector is None:
        raise ApiError(404, f"webhooks from {source} are not configured: add a {source} section to the connectors file")
    return receiver, connector


async def _receive(
    ctx: ApiContext,
    connectors: Mapping[str, Connector],
    locks: Mapping[str, asyncio.Lock],
    refusals: Refusals,
    request: Request,
) -> Response:
    receiver, connector = _receiver(connectors, request.path_params["source"])
    _check_room(ctx.store)
    request.state.max_body_bytes = ctx.settings.max_api_body_bytes
    body = await read_body(request)
    async with locks[receiver.source]:  # a delivery sent twice at once is seen accepted by the second
        answer = await run_in_threadpool(_take, ctx.store, receiver, connector, request, body)
        if answer.batch is None:
            refusals.add(receiver.source, answer.reason or answer.outcome)
        else:
            await _commit(ctx.store, answer.batch)
    log.info("%s webhook %s (%d): %s", receiver.source, answer.outcome, answer.status, answer.reason or "")
    return json_response(answer.body(), answer.status)


def _take(store: Store, receiver: Receiver[Any], connector: Connector, request: Request, body: bytes) -> Answer:
    cursor = store.cursor()
    with contextlib.closing(cursor):
        return take(receiver, connector, request.headers, body, StoredLookups(cursor), time.time_ns())


def _check_room(store: Store) -> None:
    if store.is_full():
        raise Busy("the write queue is full; deliver again later")
    if store.health.invalidated:
        raise Busy(f"{store.health.failure}; deliver again later")


async def _commit(store: Store, batch: ExportBatch) -> None:
    """Hand the delivery's batch to the writer and wait for its commit."""
    try:
        done = store.submit(batch)
    except QueueFull:
        raise Busy("the write queue is full; deliver again later") from None
    try:
        await asyncio.wrap_future(done)
    except Exception as exc:
        refused = refused_for_content(exc)
        if refused is not None:
            raise ApiError(400, refused) from None
        log.error("could not store a webhook delivery: %s", exc)
        raise Busy("the delivery could not be stored; deliver again later") from None


__all__ = ["WEBHOOK_PATH", "Refusals", "webhook_routes"]
