"""The Python client: how the dashboard, the analytics, the CLI and notebooks read.

``Client(url="http://127.0.0.1:4319")`` talks to a running collector;
``Client(db="var/trellis.duckdb")`` (or a path given as ``url``) opens the file
read-only when no collector holds it, with file and network access off and the
same SQL guard as the collector's query API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import httpx
import polars as pl
import pyarrow as pa

from trellis.collector.messages import first_line
from trellis.collector.query import Params, QueryFailed, QueryRefused, run_query
from trellis.collector.settings import DEFAULT_API
from trellis.collector.sql_guard import open_read_only

ARROW_STREAM = "application/vnd.apache.arrow.stream"


class ClientError(RuntimeError):
    """A request the collector refused or could not answer; the message is the reason.

    ``status`` is the HTTP status of the collector's answer, or None when there was no answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CollectorUnreachable(ClientError):
    """No collector answers at the address: nothing listens there, or the connection failed."""


class CollectorRunning(ClientError):
    """The database file is held by a running collector; talk to its API instead."""


class Client:
    """Reads the store through a collector's API, or a database file read-only."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        db: str | Path | None = None,
        timeout: float = 120.0,
    ) -> None:
        if url is not None and not url.startswith(("http://", "https://")):
            db, url = url, None
        self.url = None if db is not None else (url or DEFAULT_API).rstrip("/")
        self.db = Path(db) if db is not None else None
        self._http = httpx.Client(timeout=timeout, headers=_auth(token)) if self.url else None
        self._con = read_only_file(self.db) if self.db is not None else None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._con is not None:
            self._con.close()

    def sql(self, query: str, limit: int | None = None, params: Params = None) -> pl.DataFrame:
        """Run one read-only statement and return its rows as a Polars DataFrame.

        ``params`` fill the statement's placeholders: a list for ``?``, a dict for ``$name``; values are
        never pasted into the text, so they need no quoting."""
        return pl.from_arrow(self.arrow(query, limit, params))  # type: ignore[return-value]

    def arrow(self, query: str, limit: int | None = None, params: Params = None) -> pa.Table:
        """Run one read-only statement and return its rows as an Arrow table (``params`` as for ``sql``)."""
        if self._con is not None:
            try:
                return run_query(self._con.cursor(), query, limit or 10_000_000, 600, params).table
            except (QueryRefused, QueryFailed) as exc:
                raise ClientError(str(exc)) from None
        body: dict[str, Any] = {"sql": query}
        if limit is not None:
            body["limit"] = limit
        if params is not None:
            body["params"] = params
        return self.post_arrow("/api/v1/query", body)

    def post_arrow(self, path: str, body: dict[str, Any]) -> pa.Table:
        """POST ``body`` to an endpoint that answers rows, and read them as Arrow (the types kept)."""
        response = self._request("POST", path, json=body, headers={"Accept": ARROW_STREAM})
        with pa.ipc.open_stream(response.content) as reader:
            return reader.read_all()

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/api/v1/health")

    def stats(self) -> dict[str, Any]:
        return self._json("GET", "/api/v1/stats")

    def retention(self) -> dict[str, Any]:
        """What each signal table keeps, and what a sweep now would remove."""
        return self._json("GET", "/api/v1/retention")

    def sweep_retention(self) -> dict[str, Any]:
        """Remove expired rows now (admin scope); rows removed per table."""
        return self._json("POST", "/api/v1/retention/sweep")

    def snapshot(self, out: str | Path) -> Path:
        """Write a consistent copy of the collector's database to ``out``."""
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        if self._http is None:
            raise ClientError("snapshots come from a running collector; this client reads a file")
        try:
            with self._http.stream("POST", f"{self.url}/api/v1/snapshot") as response:
                _raise_for(response, read=True)
                with partial.open("wb") as fh:
                    for chunk in response.iter_bytes():
                        fh.write(chunk)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise CollectorUnreachable(f"cannot reach the collector at {self.url}: {exc}") from None
        partial.replace(target)
        return target

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call any API endpoint and return its JSON answer (the catalog uses this)."""
        return self._json(method, path, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._http is None:
            raise ClientError(f"{path} needs a running collector; this client reads {self.db} directly")
        try:
            response = self._http.request(method, f"{self.url}{path}", **kwargs)
        except httpx.TransportError as exc:
            raise CollectorUnreachable(f"cannot reach the collector at {self.url}: {exc}") from None
        _raise_for(response)
        return response


def running_collector(url: str, token: str | None = None, timeout: float = 120.0) -> Client | None:
    """A client of the collector at ``url`` when one answers its health check, None when none answers.

    Any answer counts, a refusal included: that error is raised, since a collector is there."""
    client = Client(url=url, token=token, timeout=timeout)
    try:
        client.health()
    except CollectorUnreachable:
        client.close()
        return None
    except ClientError:
        client.close()
        raise
    return client


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _raise_for(response: httpx.Response, read: bool = False) -> None:
    if response.status_code < 400:
        return
    if read:
        response.read()
    try:
        message = response.json().get("error", response.text)
    except ValueError:
        message = response.text
    raise ClientError(f"{response.status_code}: {message}", response.status_code)


def read_only_file(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A database file opened for reading as every Trellis reader opens it; ``CollectorRunning`` when a
    collector holds it, ``ClientError`` for anything else that stops it opening."""
    path = Path(path)
    if not path.exists():
        raise ClientError(f"{path} does not exist")
    try:
        return open_read_only(path)
    except duckdb.ConnectionException as exc:
        if "different configuration" not in str(exc):
            raise ClientError(f"cannot open {path}: {first_line(exc)}") from None
        raise ClientError(
            f"{path} is open in this process already with other settings (a duckdb.connect of your own?): "
            "close that connection, or open it with trellis.collector.open_read_only as Client(db=...) does"
        ) from None
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise CollectorRunning(
                f"{path} is held by a running collector; use Client(url=...) or take a snapshot"
            ) from None
        raise ClientError(f"cannot open {path}: {first_line(exc)}") from None


__all__ = [
    "ARROW_STREAM",
    "Client",
    "ClientError",
    "CollectorRunning",
    "CollectorUnreachable",
    "read_only_file",
    "running_collector",
]
