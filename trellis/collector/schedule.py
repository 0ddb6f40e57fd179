"""Background work on a schedule: a thread that calls a function every so many seconds until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import duckdb

from trellis.collector.messages import first_line

log = logging.getLogger("trellis.schedule")


class Every:
    """Calls ``work`` every ``interval`` seconds on a thread named ``name``, the first time one interval
    after ``start`` (an interval of 0 or less: never). A turn that raises is logged, in one line when
    DuckDB refused (with the traceback otherwise), and the next turn comes as planned."""

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
            try:
                self.work()
            except Exception as exc:
                expected = isinstance(exc, duckdb.Error)
                log.error(
                    "%s failed (%s); it runs again in %g s",
                    self.name,
                    first_line(exc),
                    self.interval,
                    exc_info=not expected,
                )


__all__ = ["Every"]
