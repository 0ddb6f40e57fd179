"""Where the dashboard's data comes from: the collector's API, or a database file read-only when no collector runs.

Every read and write of the dashboard goes through here; catalog operations go through the catalog's own
``CatalogClient``, their refusals turned into sentences (``DashboardError``). The collector's file is never
opened while a collector answers; in file mode it is opened read-only for each read and closed again, so
a collector can start in between, and anything that changes the catalog is refused ("editing is off").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl

from trellis.analytics import (
    AnalyticsSettings,
    Answer,
    Answers,
    Period,
    Slice,
    config_from_settings,
    fetch_answer,
    naive_utc,
)
from trellis.catalog import READ_OPERATIONS, CatalogClient, CatalogError, open_read_only
from trellis.collector import read_only_file
from trellis.collector.client import Client, ClientError, CollectorRunning, CollectorUnreachable

_STATUS = re.compile(r"^(\d{3}): ")


class DashboardError(Exception):
    """Something the dashboard cannot do, in one sentence a person can act on."""


@dataclass(frozen=True)
class Source:
    """Where the data comes from: a collector's API, or a database file read-only."""

    mode: Literal["api", "file"]
    api: str
    db: str | None = None

    @property
    def editable(self) -> bool:
        return self.mode == "api"

    def describe(self) -> str:
        if self.mode == "api":
            return f"collector at {self.api}"
        return f"{self.db}, read-only (no collector answers at {self.api})"


def locate(api: str, db: str | None, token: str | None) -> Source:
    """The collector at ``api`` if it answers (even with 401/403), else the file ``db``, else an error."""
    try:
        _client(api, token).health()
        return Source("api", api)
    except CollectorUnreachable:
        pass
    except ClientError:
        return Source("api", api)
    if db is None:
        raise DashboardError(
            f"no collector answers at {api}: start one with `trellis serve`, "
            "or give `trellis dashboard --db FILE` to read a database file"
        )
    if not Path(db).exists():
        raise DashboardError(f"no collector answers at {api}, and {db} does not exist")
    return Source("file", api, db)


@functools.lru_cache(maxsize=32)
def _client(api: str, token: str | None) -> Client:
    """One HTTP client per collector and token, shared by the sessions that use them."""
    return Client(url=api, token=token, timeout=600)


def readable(exc: Exception) -> str:
    """An API or catalog error as one sentence."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    match = _STATUS.match(text)
    if not match:
        return text
    status, message = int(match.group(1)), text[match.end() :]
    if status == 401:
        return f"sign in first: {message}"
    if status == 403:
        return f"not allowed: {message}"
    if status == 404:
        return f"not found: {message}"
    if status == 409:
        return f"conflict: {message}"
    if status >= 500:
        return f"the collector failed: {message}"
    return message


class Backend:
    """The operations the pages use, the same whichever source answers."""

    def __init__(self, source: Source, token: str | None) -> None:
        self.source, self.token = source, token

    # reading --------------------------------------------------------------
    def sql(self, query: str, limit: int | None = None, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """One read-only statement's rows, ``params`` bound to its placeholders; times as naive UTC, as the
        pages' filters and charts take them."""
        try:
            if self.source.mode == "api":
                return naive_utc(_client(self.source.api, self.token).sql(query, limit, params))
            with self._file() as client:
                return naive_utc(client.sql(query, limit, params))
        except ClientError as exc:
            raise DashboardError(readable(exc)) from None

    def stats(self) -> dict[str, Any] | None:
        """The collector's ingest statistics; None in file mode."""
        if self.source.mode != "api":
            return None
        return self._api("GET", "/api/v1/stats")

    def webhooks(self) -> list[dict[str, Any]] | None:
        """Per configured webhook source, deliveries by outcome and the refusals; None in file mode."""
        if self.source.mode != "api":
            return None
        found: list[dict[str, Any]] = self._api("GET", "/api/v1/webhooks")["sources"]
        return found

    def whoami(self) -> dict[str, Any]:
        return self._api("GET", "/api/v1/whoami")

    # catalog and analytics --------------------------------------------------
    def call(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        """Run a catalog operation by name through the catalog's ``CatalogClient``; in file mode, only
        the ``READ_OPERATIONS``."""
        if self.source.mode == "file":
            if name not in READ_OPERATIONS:
                raise DashboardError(self.editing_off())
            return self._on_file(name, payload or {})
        try:
            return CatalogClient(client=_client(self.source.api, self.token)).call(name, payload)
        except ClientError as exc:
            raise DashboardError(readable(exc)) from None

    def answer(self, job: str, period: Period, slice_: Slice) -> Answer:
        """A job's answer for the period, teams and environments on screen: computed by the collector for
        the request (``POST /api/v1/analytics/{job}``), or here on the file opened read-only."""
        try:
            if self.source.mode == "api":
                return fetch_answer(_client(self.source.api, self.token), job, period, slice_)
            return self._answer_on_file(job, period, slice_)
        except ClientError as exc:
            raise DashboardError(readable(exc)) from None

    def editing_off(self) -> str:
        return (
            f"editing is off: the dashboard reads {self.source.db} read-only because no collector answers at "
            f"{self.source.api}; start the collector (`trellis serve --db {self.source.db}`) to make changes"
        )

    # plumbing -------------------------------------------------------------
    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return _client(self.source.api, self.token).request(method, path, **kwargs)
        except ClientError as exc:
            raise DashboardError(readable(exc)) from None

    def _file(self) -> Client:
        try:
            return Client(db=self.source.db)
        except CollectorRunning:
            raise DashboardError(
                f"a collector now holds {self.source.db}; reload the page to read through its API"
            ) from None
        except ClientError as exc:
            raise DashboardError(readable(exc)) from None

    def _answer_on_file(self, job: str, period: Period, slice_: Slice) -> Answer:
        assert self.source.db is not None
        try:
            con = read_only_file(self.source.db)
        except CollectorRunning:
            raise DashboardError(
                f"a collector now holds {self.source.db}; reload the page to read through its API"
            ) from None
        try:
            return Answers(con, config_from_settings(AnalyticsSettings())).answer(job, period, slice_)
        finally:
            con.close()

    def _on_file(self, name: str, payload: dict[str, Any]) -> Any:
        assert self.source.db is not None
        try:
            catalog = open_read_only(self.source.db)
        except duckdb.Error as exc:
            raise DashboardError(f"cannot open {self.source.db}: {str(exc).splitlines()[0]}") from None
        try:
            return catalog.call(name, payload)
        except CatalogError as exc:
            raise DashboardError(str(exc)) from None
        except duckdb.CatalogException as exc:
            raise DashboardError(f"{self.source.db} has no catalog yet: {str(exc).splitlines()[0]}") from None
        finally:
            catalog.close()


__all__ = ["Backend", "DashboardError", "Source", "locate", "readable"]
