"""Background work on a schedule: a thread that calls a function every so many seconds until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Every:
    """Calls ``work`` every ``interval`` seconds on a thread named ``name``, the first time one interval
    after ``start``; ``work`` reports its own failures (an exception ends nothing but that turn)."""

    def __init__(self, name: str, interval: float, work: Callable[[], None]) -> None:
        self.name, self.interval, self.work = name, interval, work
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.work()


__all__ = ["Every"]
