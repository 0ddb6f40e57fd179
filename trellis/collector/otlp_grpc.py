"""The OTLP/gRPC receiver: the three collector services of opentelemetry-proto.

Answers UNAVAILABLE (which exporters retry) while the write queue is full,
INVALID_ARGUMENT for data it cannot read, and success only after commit.
"""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from typing import Any

import grpc

from trellis.collector import ingest
from trellis.collector.auth import Authenticator, AuthError, Scope
from trellis.collector.batch import Signal
from trellis.collector.decode_errors import PayloadError
from trellis.collector.decode_pool import DecodePool
from trellis.collector.store import QueueFull, Store

log = logging.getLogger("trellis.otlp_grpc")

_AUTH_CODES = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}


class TokenCheck(grpc.ServerInterceptor):
    """Checks the ``authorization`` metadata before the message is read.

    A refused call gets a handler that takes its request as a stream and never reads it: the
    message stays on the wire (bounded by HTTP/2 flow control) instead of being received whole,
    so unauthenticated clients cannot make the collector hold their payloads."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        metadata = {k: v for k, v in details.invocation_metadata or () if isinstance(v, str)}
        try:
            self.auth.require(metadata.get("authorization"), Scope.INGEST)
        except AuthError as exc:
            return grpc.stream_unary_rpc_method_handler(_refusal(_AUTH_CODES[exc.status], exc.message))
        return continuation(details)


def _refusal(code: grpc.StatusCode, message: str) -> Any:
    def refuse(requests: Any, context: grpc.ServicerContext) -> None:
        context.abort(code, message)

    return refuse


class _Exporter:
    """Shared body of the three Export methods."""

    def __init__(self, store: Store, pool: DecodePool) -> None:
        self.store, self.pool = store, pool
        self._decoding = threading.BoundedSemaphore(ingest.DECODE_THREADS)

    def export(self, signal: Signal, body: bytes, context: grpc.ServicerContext) -> Any:
        if self.store.is_full():
            context.abort(grpc.StatusCode.UNAVAILABLE, "the write queue is full; retry later")
        if self.store.health.invalidated:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.store.health.failure}; retry later")
        try:
            with self._decoding:
                batch = self.pool.decode(signal, "protobuf", body)
            done = ingest.submit(self.store, batch)
        except PayloadError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except QueueFull:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the write queue is full; retry later")
        try:
            done.result()
        except Exception as exc:
            refused = ingest.refused_for_content(exc)
            if refused is not None:
                log.warning("refused a %s export: %s", signal, refused)
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, refused)
            log.error("could not store a %s export: %s", signal, exc)
            context.abort(grpc.StatusCode.UNAVAILABLE, "the export could not be stored; retry later")
        return ingest.response_message(batch)


_SERVICES: dict[Signal, str] = {
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
}


def _handler(exporter: _Exporter, signal: Signal) -> grpc.RpcMethodHandler:
    def export(body: bytes, context: grpc.ServicerContext) -> Any:
        return exporter.export(signal, body, context)

    return grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=None, response_serializer=lambda message: message.SerializeToString()
    )


def start_grpc_server(
    store: Store, auth: Authenticator, host: str, port: int, max_message_bytes: int, pool: DecodePool | None = None
) -> tuple[grpc.Server, int]:
    """Start the gRPC server; returns it and the port it bound."""
    exporter = _Exporter(store, pool or DecodePool(0))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="trellis-grpc"),
        interceptors=[TokenCheck(auth)],
        options=[("grpc.max_receive_message_length", max_message_bytes), ("grpc.so_reuseport", 0)],
    )
    for signal, service in _SERVICES.items():
        handler = grpc.method_handlers_generic_handler(service, {"Export": _handler(exporter, signal)})
        server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{_grpc_host(host)}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the OTLP/gRPC port {host}:{port}")
    server.start()
    return server, bound


def _grpc_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
