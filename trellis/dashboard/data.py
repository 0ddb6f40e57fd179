"""Cached reads through the collector's API: each answer is reused for ``CACHE_SECONDS``.

Every function takes the run's ``Context``; what is cached is keyed by the source, the token and the
question, so two people with different tokens never share an answer. ``clear()`` after a change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime
from typing import Any

import polars as pl
import streamlit as st

from trellis.analytics import Period, Slice, naive_utc
from trellis.catalog import READ_OPERATIONS
from trellis.collector import named_params
from trellis.dashboard.config import CACHE_SECONDS, LIVE_CACHE_SECONDS
from trellis.dashboard.context import Context
from trellis.dashboard.source import Backend, Source


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, max_entries=1000)
def _sql(source: Source, token: str | None, sql: str, limit: int | None, params: str) -> pl.DataFrame:
    return Backend(source, token).sql(sql, limit, json.loads(params))


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, max_entries=200)
def _call(source: Source, token: str | None, name: str, payload: str) -> Any:
    return Backend(source, token).call(name, json.loads(payload))


@st.cache_data(ttl=LIVE_CACHE_SECONDS, show_spinner=False, max_entries=200)
def _call_live(source: Source, token: str | None, name: str, payload: str) -> Any:
    return Backend(source, token).call(name, json.loads(payload))


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False, max_entries=200)
def _answer(
    source: Source, token: str | None, job: str, start: datetime, end: datetime, teams: tuple[str, ...],
    envs: tuple[str, ...],
) -> tuple[pl.DataFrame, str]:  # fmt: skip
    found = Backend(source, token).answer(job, Period(start, end), Slice(teams, envs))
    return naive_utc(found.frame), found.covers


@st.cache_data(ttl=LIVE_CACHE_SECONDS, show_spinner=False, max_entries=50)
def _stats(source: Source, token: str | None) -> dict[str, Any] | None:
    return Backend(source, token).stats()


def sql(ctx: Context, query: str, limit: int | None = None, **values: Any) -> pl.DataFrame:
    """The rows of one read-only statement; its ``$name`` placeholders are bound from the page's filters
    (``Filters.params``) and ``values``, never pasted into the text."""
    return _sql(*_statement(ctx, query, limit, values))


def _statement(ctx: Context, query: str, limit: int | None, values: dict[str, Any]) -> tuple[Any, ...]:
    """``_sql``'s arguments, the cache's key."""
    params = named_params(query, {**ctx.filters.params(), **values})
    return ctx.source, ctx.token, query, limit, json.dumps(params, sort_keys=True)


def read(ctx: Context, name: str, payload: dict[str, Any] | None = None) -> Any:
    """A catalog operation that changes nothing (definitions, pending, audit...), cached."""
    assert name in READ_OPERATIONS, name
    return _call(ctx.source, ctx.token, name, json.dumps(payload or {}, sort_keys=True, default=str))


def read_live(ctx: Context, name: str, payload: dict[str, Any] | None = None) -> Any:
    """Like ``read``, reused for a few seconds only: for the views that refresh themselves."""
    assert name in READ_OPERATIONS, name
    return _call_live(ctx.source, ctx.token, name, json.dumps(payload or {}, sort_keys=True, default=str))


def answer(ctx: Context, job: str) -> tuple[pl.DataFrame, str]:
    """A job's figures for the page's range, teams and environments, and the sentence saying what they
    cover; computed for the question (cached like the other reads), never read from a shared table."""
    f = ctx.filters
    return _answer(ctx.source, ctx.token, job, f.start_at, f.end_at, f.teams, f.envs)


_AHEAD = ThreadPoolExecutor(max_workers=4, thread_name_prefix="trellis-ahead")
"""Threads that ask for the answers a page will need while it reads and draws the rest (``ahead``)."""


def ahead(ctx: Context, *jobs: str) -> None:
    """Ask for these jobs' answers now, all at once, in the background: a page names the answers it draws
    before it starts, so that the collector computes them side by side (two at a time) while the page reads
    and draws the rest, instead of one after another. ``answer`` then takes each from the cache, or waits
    for the one being fetched (Streamlit's cache fetches a question once). A failure is left to ``answer``,
    which asks again and shows it."""
    f = ctx.filters
    for job in jobs:
        _AHEAD.submit(_quietly, _answer, ctx.source, ctx.token, job, f.start_at, f.end_at, f.teams, f.envs)


def ahead_sql(ctx: Context, *queries: str, limit: int | None = None) -> None:
    """``ahead`` for statements the page then reads with ``sql(ctx, query, limit)`` (no values of their own)."""
    for query in queries:
        _AHEAD.submit(_quietly, _sql, *_statement(ctx, query, limit, {}))


def _quietly(read: Callable[..., Any], *question: Any) -> None:
    with suppress(Exception):  # the page's own call raises it again, where it can be shown
        read(*question)


@st.cache_data(ttl=LIVE_CACHE_SECONDS, show_spinner=False, max_entries=50)
def _webhooks(source: Source, token: str | None) -> list[dict[str, Any]] | None:
    return Backend(source, token).webhooks()


def webhooks(ctx: Context) -> list[dict[str, Any]] | None:
    """Per configured webhook source, what the collector was sent since it started; None in file mode."""
    return _webhooks(ctx.source, ctx.token)


def stats(ctx: Context) -> dict[str, Any] | None:
    return _stats(ctx.source, ctx.token)


def tables(ctx: Context) -> set[str]:
    """The tables the store has now (analytics tables appear after the first analysis)."""
    frame = sql(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
    return set(frame["table_name"].to_list()) if frame.height else set()


def has(ctx: Context, *names: str) -> bool:
    return set(names) <= tables(ctx)


def clear() -> None:
    """Forget every cached answer (after a change, or when the user asks for fresh data)."""
    _sql.clear()
    _call.clear()
    _call_live.clear()
    _answer.clear()
    _stats.clear()
    _webhooks.clear()


def scalar(frame: pl.DataFrame, column: str, default: Any = None) -> Any:
    """The first row's value of a column, or ``default`` when there is none."""
    if frame.height == 0 or column not in frame.columns:
        return default
    value = frame[column][0]
    return default if value is None else value


__all__ = [
    "ahead",
    "ahead_sql",
    "answer",
    "clear",
    "has",
    "read",
    "read_live",
    "scalar",
    "sql",
    "stats",
    "tables",
    "webhooks",
]
