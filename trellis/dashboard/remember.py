"""Remembering who signed in, across a reload and a new tab: a signed cookie that names a sign-in kept here.

The token itself never reaches the browser. Signing in keeps the token in this dashboard process under
a random id, and the browser gets a cookie ``trellis_session=ID.EXPIRES.SIGNATURE`` (HMAC-SHA256 with a
key this process made at start). A new browser session (a reload, another tab) reads the cookie, checks
the signature and the expiry, and finds the token again. Signing out forgets the sign-in and clears the
cookie; a restart of the dashboard forgets every sign-in (people sign in again).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

import streamlit as st
import streamlit.components.v1 as components

COOKIE = "trellis_session"
HOURS = 12
_KEY = secrets.token_bytes(32)
_SID_KEY = "trellis_sign_in_id"
_lock = threading.Lock()
_kept: dict[str, tuple[str, float]] = {}


def _signature(sid: str, expires: int) -> str:
    return hmac.new(_KEY, f"{sid}.{expires}".encode(), hashlib.sha256).hexdigest()


def keep(token: str) -> None:
    """Remember ``token`` for this browser: kept here, named by a signed cookie."""
    sid, expires = secrets.token_urlsafe(24), int(time.time()) + HOURS * 3600
    with _lock:
        _kept[sid] = (token, float(expires))
    st.session_state[_SID_KEY] = sid
    _set_cookie(f"{sid}.{expires}.{_signature(sid, expires)}", HOURS * 3600)


def recall() -> str | None:
    """The token this browser signed in with, if its cookie is genuine and current."""
    value = _cookie()
    if not value or value.count(".") != 2:
        return None
    sid, expires, signature = value.split(".")
    if not expires.isdigit() or not hmac.compare_digest(signature, _signature(sid, int(expires))):
        return None
    with _lock:
        kept = _kept.get(sid)
        if kept is None or kept[1] < time.time():
            _kept.pop(sid, None)
            return None
    return kept[0]


def forget() -> None:
    """Sign out this browser: forget its sign-in here (``clear_cookie`` then clears the browser's cookie)."""
    value = _cookie()
    with _lock:
        for sid in (st.session_state.pop(_SID_KEY, None), value.split(".")[0] if value else None):
            _kept.pop(sid or "", None)


def clear_cookie() -> None:
    _set_cookie("", 0)


def _cookie() -> str | None:
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this session (tests that run the app in-process)
        return None


def _set_cookie(value: str, max_age: int) -> None:
    """Set the cookie on the dashboard's own page (a component frame shares its origin)."""
    components.html(
        f"<script>parent.document.cookie = '{COOKIE}={value}; path=/; max-age={max_age}; SameSite=Strict';</script>",
        height=0,
    )


__all__ = ["clear_cookie", "forget", "keep", "recall"]
