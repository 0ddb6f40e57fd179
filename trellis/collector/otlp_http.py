"""The OTLP/HTTP receiver: POST /v1/metrics, /v1/logs and /v1/traces.

Protobuf and JSON on the same port, answered in the request's content type;
gzip and deflate bodies; a size limit measured after decompression; 503 with
Retry-After while the write queue is full. A request is answered with success
only after its rows are committed.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from google.rpc.status_pb2 import Status
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trellis.collector import ingest
from trellis.collector.auth import Authenticator, AuthError, Scope
from trellis.collector.batch import ExportBatch, Signal
from trellis.collector.decode_errors import PayloadError
from trellis.collector.decode_pool import DecodePool
from trellis.collector.store import QueueFull, Store

log = logging.getLogger("trellis.otlp_http")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_FORMATS = {PROTOBUF: "protobuf", JSON: "json"}
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}


BODIES_PER_DECODER = 4
BODY_BYTES_IN_FLIGHT = 48 * 1024 * 1024
"""Bytes of bodies read and being decoded at once: a few huge exports wait in their sockets rather
than all sit in memory, each several times its size while it is decoded."""
COMPRESSION_GUESS = 8
"""How much larger a compressed body is counted before it is read: compressed OTLP shrinks about that much."""


class ByteBudget:
    """A number of bytes that requests take before they read their body and give back after decoding;
    a request larger than the whole budget waits until it can have all of it."""

    def __init__(self, total: int) -> None:
        self.total, self.free = total, total
        self._changed = asyncio.Condition()

    async def take(self, wanted: int) -> int:
        wanted = min(wanted, self.total)
        async with self._changed:
            await self._changed.wait_for(lambda: self.free >= wanted)
            self.free -= wanted
        return wanted

    async def give(self, taken: int) -> None:
        async with self._changed:
            self.free += taken
            self._changed.notify_all()


def expected_bytes(request: Request, limit: int) -> int:
    """What a body will weigh once read and decompressed, as far as its headers tell."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        return limit
    compressed = request.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
    return min(int(declared) * (COMPRESSION_GUESS if compressed else 1), limit)


"""Request bodies read and held in memory at once, per decoding thread."""


class BodyTooLarge(Exception):
    pass


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def status_response(status: int, message: str, media: str, headers: dict[str, str] | None = None) -> Response:
    """An error answer with a google.rpc.Status body in the request's format."""
    code = _GRPC_CODES.get(status, 2)
    if media == JSON:
        body = orjson.dumps({"code": code, "message": message})
    else:
        media = PROTOBUF
        body = Status(code=code, message=message).SerializeToString()
    return Response(body, status_code=status, media_type=media, headers=headers)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _decompressor(encoding: str) -> Any:
    if encoding in ("", "identity"):
        return None
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise HttpError(415, f"content encoding {encoding!r} is not supported; use gzip, deflate or none")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed, stopping as soon as it passes ``limit`` bytes."""
    inflater = _decompressor(request.headers.get("content-encoding", "").strip().lower())
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            data = inflater.decompress(chunk, limit + 1 - size) if inflater else chunk
            size += len(data)
            if size > limit or (inflater and inflater.unconsumed_tail):
                raise BodyTooLarge
            parts.append(data)
        if inflater:
            parts.append(inflater.flush())
            if not inflater.eof:
                raise HttpError(400, "the compressed body is truncated: its stream does not end")
    except zlib.error as exc:
        raise HttpError(400, f"the body is not valid compressed data: {exc}") from None
    return b"".join(parts)


class OtlpHttpReceiver:
    """Starlette endpoints that decode exports and wait for their commit."""

    def __init__(
        self, store: Store, auth: Authenticator, max_body_bytes: int, retry_after: int, pool: DecodePool | None = None
    ) -> None:
        self.store, self.auth = store, auth
        self.pool = pool or DecodePool(0)
        self.max_body_bytes, self.retry_after = max_body_bytes, retry_after
        decoders = ingest.DECODE_THREADS
        self._decoders = ThreadPoolExecutor(max_workers=decoders, thread_name_prefix="trellis-decode")
        # Bodies are read only when a decoder will soon be free. The others wait in their
        # sockets (uvicorn stops reading a body nobody consumes), so memory does not grow
        # with the number of exporters sending at once.
        self._reading = asyncio.Semaphore(BODIES_PER_DECODER * decoders)
        self._bytes = ByteBudget(BODY_BYTES_IN_FLIGHT)

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
        routes = [
            Route(f"/v1/{signal}", self._endpoint(signal), methods=methods) for signal in ("metrics", "logs", "traces")
        ]
        return Starlette(routes=routes)

    def _endpoint(self, signal: Signal) -> Any:
        async def endpoint(request: Request) -> Response:
            media = _media_type(request)
            try:
                return await self._export(signal, request, media)
            except HttpError as exc:
                return status_response(exc.status, exc.message, media, exc.headers)

        return endpoint

    def _busy(self) -> HttpError:
        return HttpError(503, "the write queue is full; retry later", {"Retry-After": str(self.retry_after)})

    async def _export(self, signal: Signal, request: Request, media: str) -> Response:
        if request.method != "POST":
            raise HttpError(405, f"{request.method} is not allowed on /v1/{signal}; use POST", {"Allow": "POST"})
        try:
            self.auth.require(request.headers.get("authorization"), Scope.INGEST)
        except AuthError as exc:
            raise HttpError(exc.status, exc.message) from None
        wire_format = _FORMATS.get(media)
        if wire_format is None:
            raise HttpError(415, f"content type {media or '(none)'!r} is not supported; use {PROTOBUF} or {JSON}")
        if self.store.is_full():
            raise self._busy()
        if self.store.health.invalidated:
            raise HttpError(503, f"{self.store.health.failure}; retry later", {"Retry-After": str(self.retry_after)})
        async with self._reading:
            taken = await self._bytes.take(expected_bytes(request, self.max_body_bytes))
            try:
                batch = await self._read_and_decode(signal, request, wire_format)
            finally:
                await self._bytes.give(taken)
        try:
            done = ingest.submit(self.store, batch)
        except QueueFull:
            raise self._busy() from None
        try:
            await asyncio.wrap_future(done)
        except Exception as exc:
            refused = ingest.refused_for_content(exc)
            if refused is not None:
                log.warning("refused a %s export: %s", signal, refused)
                raise HttpError(400, refused) from None
            log.error("could not store a %s export: %s", signal, exc)
            raise HttpError(503, "the export could not be stored; retry later", {"Retry-After": "5"}) from None
        if wire_format == "json":
            return Response(orjson.dumps(ingest.response_json(batch)), media_type=JSON)
        return Response(ingest.response_message(batch).SerializeToString(), media_type=PROTOBUF)

    async def _read_and_decode(self, signal: Signal, request: Request, wire_format: str) -> ExportBatch:
        if self.store.is_full():  # it may have filled while this waited
            raise self._busy()
        try:
            body = await read_body(request, self.max_body_bytes)
        except BodyTooLarge:
            raise HttpError(413, f"the body is larger than {self.max_body_bytes} bytes after decompression") from None
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._decoders, self.pool.decode, signal, wire_format, body)
        except PayloadError as exc:
            raise HttpError(400, str(exc)) from None

    def close(self) -> None:
        """Stop the decoding threads."""
        self._decoders.shutdown(wait=False, cancel_futures=True)
