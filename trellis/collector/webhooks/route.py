"""``POST /api/v1/webhooks/{source}``: a delivery is checked, read and mapped, and answered once its rows
are committed, as an OTLP export is.

The route needs no bearer token: senders prove themselves with the source's secret instead (a
signature or a token header), which each receiver checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
    RouteInstaller,
    error_response,
    internal_error,
    json_response,
    read_body,
)
from trellis.collector.ingest import refused_for_content
from trellis.collector.store import QueueFull, Store
from trellis.collector.webhooks.connectors import Connector
from trellis.collector.webhooks.intake import Answer, StoredLookups, take
from trellis.collector.webhooks.receiver import Receiver
from trellis.collector.webhooks.registry import RECEIVERS

log = logging.getLogger("trellis.webhooks.receive")

WEBHOOK_PATH = "/api/v1/webhooks/{source}"


class Busy(Exception):
    """The store cannot take the delivery now; the sender should deliver it again later."""


def webhook_routes(connectors: Mapping[str, Connector]) -> RouteInstaller:
    """The installer of the webhook route, for the sources the connectors file configures."""

    def install(ctx: ApiContext) -> None:
        one_at_a_time = {source: asyncio.Lock() for source in connectors}

        async def endpoint(request: Request) -> Response:
            try:
                return await _receive(ctx, connectors, one_at_a_time, request)
            except ApiError as exc:
                return error_response(exc.status, exc.message)
            except Busy as exc:
                answer = error_response(503, str(exc))
                answer.headers["Retry-After"] = str(ctx.settings.retry_after_seconds)
                return answer
            except Exception:
                return internal_error(request)

        ctx.routes.append(Route(WEBHOOK_PATH, endpoint, methods=["POST"]))

    return install


def _receiver(connectors: Mapping[str, Connector], source: str) -> tuple[Receiver[Any], Connector]:
    receiver = RECEIVERS.get(source)
    if receiver is None:
        raise ApiError(404, f"there is no webhook receiver for {source!r}; there are {', '.join(sorted(RECEIVERS))}")
    connector = connectors.get(source)
    if connector is None:
        raise ApiError(404, f"webhooks from {source} are not configured: add a {source} section to the connectors file")
    return receiver, connector


async def _receive(
    ctx: ApiContext, connectors: Mapping[str, Connector], locks: Mapping[str, asyncio.Lock], request: Request
) -> Response:
    receiver, connector = _receiver(connectors, request.path_params["source"])
    _check_room(ctx.store)
    request.state.max_body_bytes = ctx.settings.max_api_body_bytes
    body = await read_body(request)
    async with locks[receiver.source]:  # a delivery sent twice at once is seen accepted by the second
        answer = await run_in_threadpool(_take, ctx.store, receiver, connector, request, body)
        await _commit(ctx.store, answer)
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


async def _commit(store: Store, answer: Answer) -> None:
    """Hand the delivery's batch to the writer and wait for its commit."""
    try:
        done = store.submit(answer.batch)
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


__all__ = ["WEBHOOK_PATH", "webhook_routes"]
