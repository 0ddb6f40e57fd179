"""Reaching the catalog: through a running collector's API, or on the database file when none runs."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import duckdb

from trellis.catalog.operations import OPERATIONS
from trellis.catalog.service import Catalog, CatalogError
from trellis.collector.auth import Authenticator, read_tokens
from trellis.collector.client import Client, running_collector


class CatalogClient:
    """Runs catalog operations by name, remotely or locally, with the same payloads and answers."""

    def __init__(self, client: Client | None = None, catalog: Catalog | None = None, actor: str | None = None) -> None:
        self.client, self.catalog, self.actor = client, catalog, actor

    @property
    def where(self) -> str:
        return f"collector at {self.client.url}" if self.client else "database file (no collector running)"

    def call(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        operation = OPERATIONS[name]
        if self.catalog is not None:
            from trellis.catalog.api import run_operation

            return _plain(run_operation(self.catalog, operation, self.actor, payload or {}))
        assert self.client is not None
        if operation.method == "GET":
            return self.client.request("GET", operation.path, params=payload or {})
        return self.client.request("POST", operation.path, json=payload or {})

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.catalog is not None:
            self.catalog.con.close()


def _plain(value: Any) -> Any:
    """The JSON form an API answer would have, so both doors answer alike."""
    import orjson

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
    return CatalogClient(catalog=Catalog(con, groups=auth.groups()), actor=actor)
