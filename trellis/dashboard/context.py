"""What every page needs for one run: where the data is, who is looking, and the shared filters.

``app.py`` sets it before the page runs; pages take it with ``current()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from trellis.dashboard.auth import Identity
from trellis.dashboard.filters import Filters
from trellis.dashboard.source import Backend, Source

_KEY = "trellis_context"


@dataclass(frozen=True)
class Context:
    source: Source
    token: str | None
    identity: Identity
    filters: Filters

    @property
    def backend(self) -> Backend:
        return Backend(self.source, self.token)


def set_current(context: Context) -> None:
    st.session_state[_KEY] = context


def current() -> Context:
    context = st.session_state.get(_KEY)
    if not isinstance(context, Context):
        st.error("Open the dashboard from its start page (`trellis dashboard`).")
        st.stop()
    return context


__all__ = ["Context", "current", "set_current"]
