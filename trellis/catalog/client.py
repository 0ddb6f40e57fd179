"""The catalog client: catalog operations by name, through a running collector's API or on a database directly.

One class, ``CatalogClient``, serves the CLI, the dashboard, the simulator and Python users, with the same
payloads and the same answers (plain JSON values) whichever way it reaches the catalog. ``connect`` picks
the way the CLI takes: the collector if one answers, else the database file. ``open_read_only`` reads a
file that must not change (the dashboard's file mode): it answers the ``READ_OPERATIONS``.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import orjson

from trellis.catalog.api import run_operation
from trellis.catalog.errors import CatalogError
from trellis.catalog.operations import OPERATIONS
from trellis.catalog.service import Catalog
from trellis.collector import open_read_only as guarded_read_only
from trellis.collector.auth import Authenticator, Scope, read_tokens
from trellis.collector.client import Client, running_collector

READ_OPERATIONS = frozenset(name for name, operation in OPERATIONS.items() if not operation.writes)
"""Catalog operations that change nothing: the ones a database file opened read-only can answer."""


class CatalogCalls(Protocol):
    """Anything that runs catalog operations by name: ``CatalogClient``, or a wrapper of one.

    ``call`` answers what the API answers, as plain JSON values, and raises when the catalog refuses;
    the error type is the implementation's (``CatalogError`` on a database, ``ClientError`` through the
    API, the dashboard's ``DashboardError`` with a readable sentence).
    """

    def call(self, name: str, payload: dict[str, Any] | None = None) -> Any: ...


class CatalogClient:
    """Runs catalog operations by name, remotely or locally, with the same payloads and answers.

    Give ``client`` to go through a collector's API (the token decides who acts), or ``catalog`` with
    the ``actor`` to act as on a database directly (a ``Catalog`` built with ``now=`` keeps its own clock).
    """

    def __init__(self, client: Client | None = None, catalog: Catalog | None = None, actor: str | None = None) -> None:
        self.client, self.catalog, self.actor = client, catalog, actor

    @property
    def where(self) -> str:
        return f"collector at {self.client.url}" if self.client else "database file (no collector running)"

    def call(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        operation = OPERATIONS[name]
        if self.catalog is not None:
            return _plain(run_operation(self.catalog, operation, self.actor, payload or {}))
        assert self.client is not None
        if operation.method == "GET":
            return self.client.request("GET", operation.path, params=payload or {})
        return self.client.request("POST", operation.path, json=payload or {})

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.catalog is not None:
            self.catalog.close()


def _plain(value: Any) -> Any:
    """The JSON form an API answer would have, so both ways answer alike."""
    return orjson.loads(orjson.dumps(value, default=str))


def connect(
    api: str, token: str | None, db: Path, tokens_file: Path | None = None, prefer_db: bool = False
) -> CatalogClient:
    """The running collector at ``api`` if it answers, otherwise the database file ``db`` opened directly."""
    client = None if prefer_db else running_collector(api, token)
    if client is not None:
        return CatalogClient(client=client)
    return _local(db, token, tokens_file)


def _local(db: Path, token: str | None, tokens_file: Path | None) -> CatalogClient:
    db.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(db))
    except duckdb.IOException as exc:
        raise CatalogError(
            f"cannot open {db}: {str(exc).splitlines()[0]} (is a collector running elsewhere?)"
        ) from None
    auth = Authenticator(read_tokens(tokens_file) if tokens_file else None)
    actor = f"local:{getpass.getuser()}"
    if auth.enabled:
        holder = auth.identify(f"Bearer {token}" if token else None)
        if holder is None:
            raise CatalogError("the token is not in the tokens file")
        actor = holder.name
    catalog = Catalog(con, groups=auth.groups(), admins=auth.holders(Scope.ADMIN))
    return CatalogClient(catalog=catalog, actor=actor)


def open_read_only(db: str | Path) -> CatalogClient:
    """The catalog of the file ``db`` opened read-only, for the ``READ_OPERATIONS``; ``duckdb.Error`` if it
    cannot be opened. ``close()`` releases the file.

    A read-only file cannot take migrations: its tables are the ones a collector made already.
    """
    return CatalogClient(catalog=Catalog(guarded_read_only(db), migrate=False))


__all__ = ["READ_OPERATIONS", "CatalogCalls", "CatalogClient", "connect", "open_read_only"]
