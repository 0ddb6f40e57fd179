"""Decoding large exports in worker processes, so that both cores decode.

Decoding is Python work that holds the GIL: in one process it runs on one core at a time, however many
threads decode. Exports shaped like the OpenTelemetry Collector's receivers (many metrics of a few
points each) cost several microseconds a point to decode, and one core cannot keep up with what the
store writes. A large body therefore goes to a worker process when one is free, and is decoded in the
collector's own threads otherwise, so that the collector's core decodes too; a worker hands back its
``ExportBatch``, whose Arrow tables pickle as buffers. Small bodies always decode in the collector:
sending them to a process would cost more than decoding them, and a collector that only ever sees small
exports never starts a worker. Each worker costs about 100 MiB.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from trellis.collector import decoding, otlp_wire
from trellis.collector.batch import ExportBatch, Signal

log = logging.getLogger("trellis.ingest")

PROCESS_BYTES = 128 * 1024
"""Bodies of at least this many bytes (as received, decompressed) are decoded in a worker process..."""
PROCESS_MAX_BYTES = 8 * 1024 * 1024
"""...and of at most this many. A huge export (hundreds of thousands of points) takes several times its
size while it is decoded, and a process keeps the memory it once needed: such bodies decode in the
collector, within its budget of bodies in flight, so that no worker grows to the size of the largest
export it ever saw. Exporters batch far below this (the OpenTelemetry Collector: 8,192 items)."""


def _start_worker(parent: int) -> None:
    """Each worker imports the decoders before its first export, and ends when the collector does, even
    when the collector was killed and could not tell it to. Workers decode without the compiled metrics
    decoder, which would cost each of them about 170 MiB (numba and LLVM): protobuf metrics come to a
    worker only until the collector's own is ready."""
    os.environ["TRELLIS_WIRE_DECODER"] = "0"
    threading.Thread(target=_watch, args=(parent,), name="trellis-orphan-watch", daemon=True).start()
    decoding.decode("metrics", "protobuf", b"")


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)  # orphaned: nobody will ever send this worker another export


class DecodePool:
    """``processes`` worker processes, started when the first large body arrives."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._busy = 0

    def _take_worker(self, signal: Signal, wire_format: str, body: bytes) -> bool:
        """Whether this body goes to a worker: it is large, a worker is free (then it is taken), and it is not
        protobuf metrics that the compiled decoder reads here faster than a worker could hand back."""
        if not PROCESS_BYTES <= len(body) <= PROCESS_MAX_BYTES:
            return False
        if signal == "metrics" and wire_format == "protobuf" and otlp_wire.ready():
            return False
        with self._lock:
            if self._busy >= self.processes:
                return False
            self._busy += 1
            return True

    def decode(self, signal: Signal, wire_format: str, body: bytes) -> ExportBatch:
        """``decoding.decode``: in a free worker process when the body is large, else in this thread; blocks
        until it is done. A worker that dies is replaced, and that export decoded here."""
        if self._take_worker(signal, wire_format, body):
            executor = self._started()
            try:
                return executor.submit(decoding.decode, signal, wire_format, body).result()
            except BrokenProcessPool as exc:
                self._replace(executor, exc)
            finally:
                with self._lock:
                    self._busy -= 1
        return decoding.decode(signal, wire_format, body)

    def _started(self) -> Executor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("spawn")  # no inherited threads, sockets or DuckDB
                self._executor = ProcessPoolExecutor(
                    self.processes, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
                )
            return self._executor

    def _replace(self, broken: Executor, exc: BrokenProcessPool) -> None:
        """A worker of ``broken`` died (killed, out of memory): the next large body starts new workers. Of
        several threads that saw it break, the first replaces it; new workers started since are kept."""
        with self._lock:
            if self._executor is not broken:
                return
            self._executor = None
        log.warning("a decoding process stopped (%s); starting new ones", exc)
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


__all__ = ["PROCESS_BYTES", "PROCESS_MAX_BYTES", "DecodePool"]
