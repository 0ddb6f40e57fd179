"""Pieces every page uses: the error boundary, empty states, what figures cover, links."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import polars as pl
import streamlit as st

from trellis.dashboard import data
from trellis.dashboard.context import Context
from trellis.dashboard.source import DashboardError, readable

log = logging.getLogger("trellis.dashboard")


def run_page(render: Callable[[Context], None]) -> None:
    """Run a page; any failure becomes one readable message instead of a traceback."""
    from trellis.dashboard.context import current

    ctx = current()
    with guard():
        render(ctx)


@contextmanager
def guard() -> Iterator[None]:
    """Show a failure inside the block as one message (pages and fragments use it)."""
    try:
        yield
    except DashboardError as exc:
        st.error(str(exc), icon=":material/error:")
    except Exception as exc:  # Streamlit's own control flow (rerun, stop) is a BaseException and passes
        log.exception("dashboard page failed")
        st.error(f"Something went wrong: {readable(exc)} ({type(exc).__name__})", icon=":material/error:")


def header(title: str, caption: str, ctx: Context) -> None:
    st.title(title)
    st.caption(f"{caption} · {ctx.filters.describe()}")


def otlp_endpoint(api: str) -> str:
    """The collector's OTLP/HTTP address, guessed from its API address (default ports 4318/4319)."""
    parsed = urlparse(api)
    port = 4318 if parsed.port in (None, 4319) else parsed.port
    return f"{parsed.scheme or 'http'}://{parsed.hostname or '127.0.0.1'}:{port}"


def empty_state(ctx: Context, what: str) -> None:
    """No data yet: say what is missing and how to send some."""
    endpoint = otlp_endpoint(ctx.source.api)
    st.info(f"**No {what} yet.** Send some and this page fills in.", icon=":material/inbox:")
    st.markdown("A CI pipeline reports a deployment (and an incident) with `trellis emit`:")
    st.code(
        f'trellis emit deployment --id "$RUN_ID" --service checkout --namespace shop \\\n'
        f"    --env production-eu --status succeeded --endpoint {endpoint}\n"
        f"trellis emit incident --id INC-1 --service checkout --env production-eu --status opened "
        f"--endpoint {endpoint}",
        language="bash",
    )
    st.markdown("Any OpenTelemetry SDK or Collector sends metrics, logs and traces over OTLP:")
    st.code(
        f"OTEL_EXPORTER_OTLP_ENDPOINT={endpoint} OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf your-service",
        language="bash",
    )
    st.markdown("The catalog fills with `trellis resources apply -f catalog/`; see docs/catalog.md.")


PLAIN = (pl.Boolean, pl.String, pl.Date, pl.Datetime, pl.Null)
"""Column types a table hands to Streamlit as Arrow (besides numbers): the ones Polars and pandas turn into the
same Arrow types."""


def table(frame: pl.DataFrame, hide_index: bool = True, **options: Any) -> Any:
    """A table as every page shows one: without the index, and a missing value as an empty cell (Streamlit
    would write "None"). A frame of plain columns goes as Arrow: Streamlit would make a pandas frame of it
    first, 50 ms for a table of 2,000 deployments (and 0.5 s to import pandas the first time)."""
    plain = all(dtype.is_numeric() or isinstance(dtype, PLAIN) for dtype in frame.schema.values())
    return st.dataframe(frame.to_arrow() if plain else frame, hide_index=hide_index, placeholder="", **options)


def covers(text: str) -> None:
    """What an answer's figures cover, said beside them."""
    st.caption(f"Figures for {text}.")


def refresh_button(key: str) -> None:
    if st.button("Refresh", key=key, icon=":material/refresh:", help="Read fresh data now"):
        data.clear()
        st.rerun()


def percent(value: object, digits: int = 0) -> str:
    return f"{float(value) * 100:.{digits}f}%" if isinstance(value, int | float) else "n/a"


def need(ctx: Context, scope: str, action: str) -> bool:
    """Whether the signed-in token may do ``action``; says why not when it may not."""
    if not ctx.source.editable:
        st.info(ctx.backend.editing_off(), icon=":material/lock:")
        return False
    if ctx.identity.can(scope):
        return True
    who = ctx.identity.name or "nobody (not signed in)"
    st.info(f"To {action}, sign in with a token that has the `{scope}` scope; {who} has not.", icon=":material/lock:")
    return False


def take_query(param: str, key: str, choices: list[str]) -> None:
    """A link's ``?param=value`` picks that choice of the widget ``key`` once; then the person's own choice
    stands (the parameter is consumed)."""
    asked = st.query_params.get(param)
    if asked is None:
        return
    del st.query_params[param]
    if asked in choices:
        st.session_state[key] = asked


__all__ = ["covers", "empty_state", "header", "need", "run_page", "table", "take_query"]
