"""Sessions on the catalog's database: each operation on its own cursor and transaction, writes one at a time.

A read sees one consistent snapshot and never another operation's rows. Writes take turns: one write
transaction at a time, checked against the catalog's invariants before it commits; the events a write
announces are sent only after it commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import duckdb

from trellis.catalog.errors import CatalogError
from trellis.catalog.repository import Repository, check_invariants


@dataclass
class _Session:
    """One operation's own cursor and transaction, and the events it sends once it commits."""

    con: duckdb.DuckDBPyConnection
    repo: Repository
    writes: bool
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    discard: bool = False


class Sessions:
    """The sessions of one database connection.

    Built with ``shared=True`` (the collector's catalog, used by many threads) any use outside a session
    is refused; otherwise (one thread: the CLI on a file, tests) such use reads the connection itself.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        shared: bool = False,
    ) -> None:
        self._database = con
        self._idle = _Session(con, Repository(con), writes=False)
        self._local = threading.local()
        self._writer = threading.RLock()
        self.shared = shared
        self.on_event = on_event

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection of this thread's session."""
        return self._session().con

    @property
    def repo(self) -> Repository:
        return self._session().repo

    def _session(self) -> _Session:
        session: _Session | None = getattr(self._local, "session", None)
        if session is not None:
            return session
        if self.shared:
            raise RuntimeError("the shared catalog was used outside a session")
        return self._idle

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One consistent snapshot for a whole read: every change committed before it began, none after."""
        with self._open(writes=False):
            yield

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for a whole change, one writer at a time; events are sent after it commits."""
        with self._open(writes=True):
            yield

    @contextmanager
    def _open(self, writes: bool) -> Iterator[None]:
        current: _Session | None = getattr(self._local, "session", None)
        if current is not None:  # nested: the outer session holds the transaction
            if writes and not current.writes:
                raise RuntimeError("a write inside a read-only catalog session")
            yield
            return
        with self._writer if writes else nullcontext():
            cursor = self._database.cursor()
            session = _Session(cursor, Repository(cursor, memo=True), writes)
            self._local.session = session
            try:
                cursor.execute("BEGIN TRANSACTION")
                refusal: CatalogError | None = None
                try:
                    try:
                        yield
                    except CatalogError as exc:
                        if not (writes and exc.keeps_changes):
                            raise
                        refusal = exc
                    if writes and not session.discard:
                        check_invariants(session.repo)
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("ROLLBACK" if session.discard else "COMMIT")
            finally:
                self._local.session = None
                cursor.close()
        for name, payload in [] if session.discard else session.events:
            if self.on_event:
                self.on_event(name, payload)
        if refusal is not None:
            raise refusal

    def discard(self) -> None:
        """Roll the current write session back when it ends instead of committing it: a dry run."""
        session = self._session()
        if not session.writes:
            raise RuntimeError("only a write session can be discarded")
        session.discard = True

    def close(self) -> None:
        self._database.close()

    def announce(self, name: str, payload: dict[str, Any]) -> None:
        """Send an event once the current write session commits."""
        session = self._session()
        if not session.writes:
            raise RuntimeError(f"{name} was announced outside a write session, where it would never be sent")
        session.events.append((name, payload))


__all__ = ["Sessions"]
