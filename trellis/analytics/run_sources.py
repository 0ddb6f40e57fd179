"""Sources for one run of several jobs: what two jobs compute alike is computed once per run.

Utilization and cost both start from the same pass over every metric point of the period (``usage_pass``),
the costliest step of a run. Jobs ask for such a result through ``shared``: under ``RunSources`` the first
job computes it and the later ones reuse it until it is released (``runner.run_jobs`` releases a kind of work
after the last job that ``shares`` it, so that it holds no memory while the other jobs run); under plain
``Sources`` (a job run on its own) each job computes it and releases it when done.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from types import TracebackType
from typing import Any, TypeVar

import duckdb

from trellis.analytics.sources import Sources

T = TypeVar("T")
Key = tuple[Hashable, ...]
"""What a shared result is kept under: its kind of work first (``Job.shares``), then what it depends on."""


class RunSources(Sources):
    """``Sources`` that keep what jobs share (``shared``) until its kind is released, at the latest at
    ``close``."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(con)
        self._kept: dict[Key, tuple[Any, ExitStack]] = {}

    def holds(self, key: Key) -> bool:
        return key in self._kept

    def keep(self, key: Key, open_: Callable[[], AbstractContextManager[T]]) -> T:
        """The value of the context ``open_`` gives, entered the first time ``key`` is asked for and left
        when its kind is released."""
        if key not in self._kept:
            stack = ExitStack()
            self._kept[key] = (stack.enter_context(open_()), stack)
        value: T = self._kept[key][0]
        return value

    def release(self, kind: Hashable) -> None:
        """Leave the context of every key of this kind (a shared pass drops its temporary tables)."""
        for key in [k for k in self._kept if k[0] == kind]:
            self._kept.pop(key)[1].close()

    def close(self) -> None:
        """Release everything kept."""
        for kind in {key[0] for key in self._kept}:
            self.release(kind)

    def __enter__(self) -> RunSources:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def holds(sources: Sources, key: Key) -> bool:
    """Whether the run already keeps ``key`` (never for plain ``Sources``)."""
    return isinstance(sources, RunSources) and sources.holds(key)


def shared(sources: Sources, key: Key, open_: Callable[[], AbstractContextManager[T]]) -> AbstractContextManager[T]:
    """A context giving the value of ``open_``'s context: kept under ``RunSources`` until ``key``'s kind is
    released (computed once per ``key``), entered and left here under plain ``Sources``."""
    if isinstance(sources, RunSources):
        return nullcontext(sources.keep(key, open_))
    return open_()


__all__ = ["Key", "RunSources", "holds", "shared"]
