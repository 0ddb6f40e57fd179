"""Delivering a simulation to a collector: metric history as gzip POSTs, events and spans with the SDK exporters.

Metric history goes to ``/v1/metrics`` the way an exporter sends it (protobuf, gzip), retried while the
collector answers 503 or 429 (honouring ``Retry-After``) or cannot be reached for a moment, with two
requests in flight so that encoding the next day overlaps storing the last. Events and spans go through
the SDK's ``OTLPLogExporter`` and ``OTLPSpanExporter`` (gzip), which retry the same answers themselves.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TextIO

import httpx
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from trellis.simulator.model import SimulationError

RETRYABLE = (429, 502, 503, 504)


class Progress:
    """One line per phase, rewritten in place on a terminal and printed every few seconds otherwise."""

    def __init__(self, out: TextIO | None = None, every: float = 3.0) -> None:
        self.out = out or sys.stdout
        self.every = every
        self.tty = self.out.isatty()
        self._last = 0.0
        self._open = False

    def update(self, text: str, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < (0.2 if self.tty else self.every):
            return
        self._last = now
        if self.tty:
            self.out.write("\r\033[K" + text + ("\n" if final else ""))
            self._open = not final
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def line(self, text: str) -> None:
        if self._open:
            self.out.write("\n")
            self._open = False
        self.out.write(text + "\n")
        self.out.flush()


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class MetricPoster:
    """POSTs serialized ExportMetricsServiceRequests, gzip-compressed, until the collector takes them."""

    def __init__(self, endpoint: str, token: str | None, give_up_after: float = 600.0, in_flight: int = 2) -> None:
        self.url = f"{endpoint.rstrip('/')}/v1/metrics"
        self.give_up_after = give_up_after
        self.http = httpx.Client(timeout=120.0, headers=headers(token))
        self.pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="trellis-simulate")
        self.in_flight = in_flight
        self.pending: list[Future[None]] = []
        self.retries = 0
        self.rejected = 0
        self.sent = 0
        self.answered = 0
        self._stopping = False
        self._lock = threading.Lock()

    def submit(self, body: bytes, points: int) -> None:
        """Queue one request; blocks while ``in_flight`` requests are unanswered; raises the first failure."""
        while len(self.pending) >= self.in_flight:
            self.pending.pop(0).result()
        self.pending.append(self.pool.submit(self.post, body, points))

    def flush(self) -> None:
        while self.pending:
            self.pending.pop(0).result()

    def post(self, body: bytes, points: int) -> None:
        data = gzip.compress(body, compresslevel=1)
        deadline = time.monotonic() + self.give_up_after
        request_headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        delay = 0.5
        while True:
            if self._stopping:
                raise SimulationError("stopped before the collector took every export")
            try:
                response = self.http.post(self.url, content=data, headers=request_headers)
            except httpx.TransportError as exc:
                if time.monotonic() + delay > deadline:
                    raise SimulationError(f"cannot reach the collector at {self.url}: {exc}") from None
                self._wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            if response.status_code == 200:
                self._accepted(response.content, points)
                return
            if response.status_code in RETRYABLE and time.monotonic() < deadline:
                retry_after = response.headers.get("retry-after", "")
                self._wait(float(retry_after) if retry_after.isdigit() else delay)
                delay = min(delay * 2, 10.0)
                continue
            message = response.text.strip().splitlines()[0] if response.text.strip() else ""
            raise SimulationError(f"the collector answered {response.status_code} to {self.url}: {message[:300]}")

    def _wait(self, seconds: float) -> None:
        with self._lock:
            self.retries += 1
        time.sleep(seconds)

    def _accepted(self, content: bytes, points: int) -> None:
        answer = ExportMetricsServiceResponse()
        try:
            answer.ParseFromString(content)
        except Exception:  # a JSON answer or an empty body: nothing to learn from it
            answer = ExportMetricsServiceResponse()
        with self._lock:
            self.rejected += answer.partial_success.rejected_data_points
            self.sent += points
            self.answered += 1

    def close(self) -> None:
        self._stopping = True
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.http.close()


class SignalExporter:
    """The SDK's OTLP/HTTP exporters for logs and spans, gzip, with the token."""

    def __init__(self, endpoint: str, token: str | None) -> None:
        base = endpoint.rstrip("/")
        self.logs = OTLPLogExporter(
            endpoint=f"{base}/v1/logs", headers=headers(token), timeout=120, compression=Compression.Gzip
        )
        self.spans = OTLPSpanExporter(
            endpoint=f"{base}/v1/traces", headers=headers(token), timeout=120, compression=Compression.Gzip
        )
        self.endpoint = base

    def export_logs(self, records: Sequence[Any], batch: int = 1000, done: Callable[[int], None] | None = None) -> None:
        for i in range(0, len(records), batch):
            if self.logs.export(records[i : i + batch]) != LogRecordExportResult.SUCCESS:
                raise SimulationError(f"the collector at {self.endpoint} did not accept the events (see its log)")
            if done is not None:
                done(min(i + batch, len(records)))

    def export_spans(self, spans: Sequence[Any], batch: int = 2000, done: Callable[[int], None] | None = None) -> None:
        for i in range(0, len(spans), batch):
            if self.spans.export(spans[i : i + batch]) != SpanExportResult.SUCCESS:
                raise SimulationError(f"the collector at {self.endpoint} did not accept the spans (see its log)")
            if done is not None:
                done(min(i + batch, len(spans)))

    def close(self) -> None:
        self.logs.shutdown()
        self.spans.shutdown()
