"""The catalog's routes on the collector's API, mounted by the server that composes Trellis (``trellis.server``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from trellis.catalog.deadlines import Housekeeper
from trellis.catalog.documents import DocumentError, describe_validation
from trellis.catalog.importers import LegacyImportError
from trellis.catalog.operations import OPERATIONS, Operation
from trellis.catalog.service import Catalog, CatalogError
from trellis.catalog.settings import CatalogSettings
from trellis.catalog.webhooks import Dispatcher, read_webhooks
from trellis.collector.api import ApiContext, ApiError, Caller, json_response, read_body
from trellis.collector.auth import Scope

ANONYMOUS = "anonymous"


def run_operation(catalog: Catalog, operation: Operation, actor: str | None, payload: Any) -> Any:
    """Validate the payload and run the operation; every refusal becomes CatalogError with a status."""
    if operation.needs_identity and actor is None:
        raise CatalogError("approvals need a known identity: run the collector with --tokens-file", 403)
    try:
        body = operation.request.model_validate(payload)
    except ValidationError as exc:
        raise CatalogError(f"invalid request: {describe_validation(exc)}") from None
    try:
        with catalog.transaction() if operation.writes else catalog.reading():
            return operation.run(catalog, actor or ANONYMOUS, body)
    except DocumentError as exc:
        raise CatalogError(str(exc)) from None
    except LegacyImportError as exc:
        raise CatalogError(str(exc), exc.status) from None


def install(ctx: ApiContext, settings: CatalogSettings) -> None:
    """Register every catalog operation on the API, and start webhooks and housekeeping."""
    hooks = read_webhooks(settings.webhooks_file) if settings.webhooks_file is not None else None
    catalog = Catalog(
        ctx.store.cursor(),
        groups=ctx.auth.groups(),
        admins=ctx.auth.holders(Scope.ADMIN),
        deprecation_days=settings.deprecation_days,
        shared=True,
    )
    if hooks is not None:  # after the catalog made its tables, the deliveries table among them
        dispatcher = Dispatcher(ctx.store.cursor(), hooks)
        catalog.on_event = dispatcher.publish
        ctx.on_shutdown.append(dispatcher.close)
    housekeeper = Housekeeper(catalog, settings.housekeeping_seconds, timedelta(days=settings.pin_warning_days))
    housekeeper.start()
    ctx.on_shutdown.append(housekeeper.stop)
    ctx.extensions["catalog"] = catalog
    for operation in OPERATIONS.values():
        ctx.add(operation.path, _endpoint(catalog, operation), Scope(operation.scope), [operation.method])


def _endpoint(catalog: Catalog, operation: Operation) -> Any:
    async def endpoint(request: Request, caller: Caller) -> Response:
        payload = dict(request.query_params) if operation.method == "GET" else await _json(request)
        try:
            result = await run_in_threadpool(run_operation, catalog, operation, caller.name, payload)
        except CatalogError as exc:
            raise ApiError(exc.status, str(exc)) from None
        return json_response(result)

    return endpoint


async def _json(request: Request) -> Any:
    import orjson

    body = await read_body(request)
    try:
        return orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None


__all__ = ["describe_validation", "install", "run_operation"]
