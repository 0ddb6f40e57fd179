"""Rendering output templates in worker processes, within a time, memory and size limit.

A template is a program its author controls: ``{{ 'x' * 10**13 }}`` asks for terabytes, two nested
loops over ``range(100000)`` run for hours, and neither is stopped by Jinja2's sandbox. So templates
render in a worker process of their own (started once, reused), which may grow by ``MEMORY_BYTES``
and must answer within ``SECONDS``; a worker that does not is killed and replaced. Every failure
comes back as a ``RenderError`` with a sentence, never as a crash of the process that asked.
"""

from __future__ import annotations

import multiprocessing
import resource
import threading
from multiprocessing.connection import Connection
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

SECONDS = 2.0
"""How long one output may take to render."""
MEMORY_BYTES = 256 * 1024 * 1024
"""How much a worker may grow beyond what it holds once started."""
MAX_CHARACTERS = 64 * 1024
"""The longest rendered output."""
WORKERS = 2
STARTUP_SECONDS = 60.0

_SANDBOX = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class RenderError(ValueError):
    """A template that cannot be rendered within the limits; the message says why."""


def render_one(template: str, variables: dict[str, Any]) -> tuple[bool, str]:
    """(True, output) or (False, why): what a worker answers for one template."""
    try:
        output = _SANDBOX.from_string(template).render(variables)
    except MemoryError:
        return False, f"needs more than {MEMORY_BYTES // 2**20} MiB"
    except Exception as exc:  # the template's own error, whatever Jinja2 or Python raised
        return False, str(exc) or type(exc).__name__
    if len(output) > MAX_CHARACTERS:
        return False, f"renders {len(output):,} characters, more than {MAX_CHARACTERS:,}"
    return True, output


def _serve(connection: Connection) -> None:
    """A worker: render what arrives until the other end closes."""
    with open("/proc/self/statm") as statm:
        held = int(statm.read().split()[0]) * resource.getpagesize()
    limit = held + MEMORY_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    connection.send("ready")
    while True:
        try:
            template, variables = connection.recv()
        except (EOFError, OSError):
            return
        connection.send(render_one(template, variables))


class _Worker:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs,), name="trellis-render", daemon=True)
        self.process.start()
        theirs.close()
        if not self.connection.poll(STARTUP_SECONDS) or self.connection.recv() != "ready":
            self.kill()
            raise RenderError(f"the renderer did not start within {STARTUP_SECONDS:g} s")

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.connection.close()


class Renderer:
    """A few reusable worker processes; ``render`` is safe to call from many threads."""

    def __init__(self, seconds: float = SECONDS, workers: int = WORKERS) -> None:
        self.seconds = seconds
        self._idle: list[_Worker] = []
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()

    def render(self, template: str, variables: dict[str, Any]) -> str:
        with self._slots:
            worker = self._take()
            try:
                worker.connection.send((template, variables))
                if not worker.connection.poll(self.seconds):
                    raise RenderError(f"took longer than {self.seconds:g} s")
                done, answer = worker.connection.recv()
            except (EOFError, OSError):
                worker.kill()
                raise RenderError(f"stopped the renderer (more than {MEMORY_BYTES // 2**20} MiB?)") from None
            except BaseException:
                worker.kill()
                raise
            self._give(worker)
        if not done:
            raise RenderError(answer)
        return str(answer)

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.is_alive():
                    return worker
                worker.kill()
        return _Worker()

    def _give(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

    def close(self) -> None:
        with self._lock:
            for worker in self._idle:
                worker.kill()
            self._idle.clear()


RENDERER = Renderer()
"""The renderer every template driver shares."""


__all__ = ["MAX_CHARACTERS", "MEMORY_BYTES", "RENDERER", "SECONDS", "RenderError", "Renderer", "render_one"]
