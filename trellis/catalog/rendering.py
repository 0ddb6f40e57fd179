"""Rendering output templates in worker processes, within a time, memory and size limit.

A template is a program its author controls: ``{{ 'x' * 10**13 }}`` asks for terabytes, two nested
loops over ``range(100000)`` run for hours, and neither is stopped by Jinja2's sandbox. So templates
render in a worker process of their own (``render_worker.py``, started once and reused), which may
grow by ``MEMORY_BYTES`` and must answer within ``SECONDS``; a worker that does not is killed and
replaced. Every failure comes back as a ``RenderError`` with a sentence, never as a crash of the
process that asked.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

SECONDS = 2.0
"""How long one output may take to render."""
MEMORY_BYTES = 256 * 1024 * 1024
"""How much a worker may grow beyond what it holds once started."""
MAX_CHARACTERS = 64 * 1024
"""The longest rendered output."""
WORKERS = 2
STARTUP_SECONDS = 60.0
_SCRIPT = Path(__file__).with_name("render_worker.py")


class RenderError(ValueError):
    """A template that cannot be rendered within the limits; the message says why."""


class _Worker:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(_SCRIPT), str(MEMORY_BYTES), str(MAX_CHARACTERS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if self.answer(STARTUP_SECONDS) != b"ready\n":
            self.kill()
            raise RenderError(f"the renderer did not start within {STARTUP_SECONDS:g} s")

    @property
    def stdin(self) -> IO[bytes]:
        assert self.process.stdin is not None
        return self.process.stdin

    def answer(self, seconds: float) -> bytes | None:
        """The worker's next line, or None when it gives none within ``seconds``."""
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], seconds)
        return stdout.readline() if ready else None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


class Renderer:
    """A few reusable worker processes; ``render`` is safe to call from many threads."""

    def __init__(self, seconds: float = SECONDS, workers: int = WORKERS) -> None:
        self.seconds = seconds
        self._idle: list[_Worker] = []
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()

    def render(self, template: str, variables: dict[str, Any]) -> str:
        request = json.dumps({"template": template, "variables": variables}, default=str).encode() + b"\n"
        with self._slots:
            worker = self._take()
            try:
                worker.stdin.write(request)
                worker.stdin.flush()
                line = worker.answer(self.seconds)
            except OSError:
                line = b""
            if not line:
                worker.kill()
                if line is None:
                    raise RenderError(f"took longer than {self.seconds:g} s")
                raise RenderError(f"stopped the renderer (more than {MEMORY_BYTES // 2**20} MiB?)")
            self._give(worker)
        answer = json.loads(line)
        if not answer["ok"]:
            raise RenderError(answer["why"])
        return str(answer["output"])

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.poll() is None:
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


__all__ = ["MAX_CHARACTERS", "MEMORY_BYTES", "RENDERER", "SECONDS", "RenderError", "Renderer"]
