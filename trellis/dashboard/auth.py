"""Who is using the dashboard, and what they may do.

Two ways in. When the Streamlit secrets have an ``[auth]`` section, people sign in with OpenID Connect
(``st.login``) and act with the Trellis token that ``[trellis.tokens]`` maps their e-mail to (without one
they only read, with the dashboard's own token). Otherwise a person pastes a Trellis API token in the
sidebar, or the dashboard starts with ``TRELLIS_TOKEN``. Either way the collector says, through
``GET /api/v1/whoami``, whose token it is and which scopes it has; the pages offer only what those scopes
allow, and the collector checks again. Nobody approves anonymously: approving needs a named token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from trellis.dashboard import remember
from trellis.dashboard.config import Config
from trellis.dashboard.source import Backend, DashboardError, Source

TOKEN_KEY = "trellis_token"
SIGNED_OUT_KEY = "trellis_signed_out"
REMEMBER_KEY = "trellis_remember"
FORGET_KEY = "trellis_forget"


@dataclass(frozen=True)
class Identity:
    """The person (their token's name) and what the collector lets them do."""

    name: str | None
    scopes: frozenset[str]
    groups: tuple[str, ...] = ()
    tokens: bool = True
    """Whether the collector checks tokens at all."""
    via: str = "token"
    """``token``, ``oidc``, ``open`` (the collector checks no tokens) or ``file`` (read-only file)."""
    email: str | None = None
    problem: str | None = field(default=None, compare=False)

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def can_edit(self) -> bool:
        return self.via != "file" and self.can("propose")

    @property
    def can_approve(self) -> bool:
        """Approving needs the scope and a name the collector records; never anonymous."""
        return self.via != "file" and self.can("approve") and self.name is not None

    def describe(self) -> str:
        if self.via == "file":
            return "reading a file: editing is off"
        if not self.tokens:
            return "the collector checks no tokens: anyone may read and edit, nobody may approve"
        if self.name is None:
            return "not signed in"
        scopes = ", ".join(sorted(self.scopes)) or "none"
        groups = f"; groups {', '.join(self.groups)}" if self.groups else ""
        return f"signed in as **{self.name}** ({scopes}{groups})"


ANONYMOUS = Identity(None, frozenset())


def identity_from(answer: dict[str, Any], via: str = "token", email: str | None = None) -> Identity:
    """An Identity from the collector's ``/api/v1/whoami`` answer."""
    tokens = bool(answer.get("tokens", True))
    return Identity(
        name=answer.get("name"),
        scopes=frozenset(answer.get("scopes") or []),
        groups=tuple(answer.get("groups") or []),
        tokens=tokens,
        via=via if tokens else "open",
        email=email,
    )


@st.cache_data(ttl=60, show_spinner=False)
def _whoami(source: Source, token: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = Backend(source, token).whoami()
    return answer


def oidc_configured() -> bool:
    """Whether the Streamlit secrets configure OpenID Connect sign-in (an ``[auth]`` section)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def _mapped_token(email: str | None) -> str | None:
    """The Trellis token ``[trellis.tokens]`` in the secrets gives this e-mail, if any."""
    if not email:
        return None
    try:
        tokens = st.secrets.get("trellis", {}).get("tokens", {})
    except Exception:
        return None
    value = tokens.get(email)
    return str(value) if value else None


def current_token(config: Config) -> str | None:
    """The token this browser session acts with."""
    if TOKEN_KEY in st.session_state:
        return st.session_state[TOKEN_KEY] or None
    if st.session_state.get(SIGNED_OUT_KEY):
        return None
    remembered = remember.recall()  # signed in before this reload, or in another tab
    if remembered:
        st.session_state[TOKEN_KEY] = remembered
        return remembered
    return config.token


def sign_in(source: Source, config: Config) -> tuple[str | None, Identity]:
    """Show who is signed in (and the way to sign in or out) in the sidebar; returns the token and identity."""
    if source.mode == "file":
        st.sidebar.caption("Reading a database file: editing is off.")
        return None, Identity(None, frozenset({"read"}), via="file")
    if oidc_configured():
        return _oidc(source, config)
    return _token_sign_in(source, config)


def _resolve(source: Source, token: str | None, via: str = "token", email: str | None = None) -> Identity:
    try:
        return identity_from(_whoami(source, token), via, email)
    except DashboardError as exc:
        return Identity(None, frozenset(), via=via, email=email, problem=str(exc))


def _token_sign_in(source: Source, config: Config) -> tuple[str | None, Identity]:
    token = current_token(config)
    identity = _resolve(source, token)
    box = st.sidebar.container(border=True)
    if not identity.tokens:
        box.caption(identity.describe())
        return token, identity
    if identity.name is not None:
        box.markdown(identity.describe())
        if st.session_state.pop(REMEMBER_KEY, False):
            remember.keep(token or "")
        if box.button("Sign out", key="sign_out", width="stretch"):
            st.session_state[TOKEN_KEY] = None
            st.session_state[SIGNED_OUT_KEY] = True
            st.session_state[FORGET_KEY] = True
            remember.forget()
            _whoami.clear()
            st.rerun()
        return token, identity
    if st.session_state.pop(FORGET_KEY, False):
        remember.clear_cookie()  # drawn on the run after signing out, so that it reaches the browser
    if token and identity.problem:
        box.error(identity.problem)
    with box.form("sign_in", border=False):
        entered = st.text_input("Trellis API token", type="password", key="token_input")
        if st.form_submit_button("Sign in", width="stretch") and entered.strip():
            st.session_state[TOKEN_KEY] = entered.strip()
            st.session_state[SIGNED_OUT_KEY] = False
            st.session_state[REMEMBER_KEY] = True  # once the token is known good, the browser remembers it
            st.rerun()
    box.caption("Tokens come from the collector's tokens file (docs/configuration.md).")
    return None, ANONYMOUS


def _oidc(source: Source, config: Config) -> tuple[str | None, Identity]:
    box = st.sidebar.container(border=True)
    if not st.user.get("is_logged_in"):
        box.caption("Sign in with your organisation's account to see Trellis.")
        if box.button("Sign in", key="oidc_login", width="stretch"):
            st.login()
        return None, ANONYMOUS
    email = str(st.user.get("email") or "") or None
    mapped = _mapped_token(email)
    token = mapped or config.token
    identity = _resolve(source, token, "oidc", email)
    if mapped is None:
        # the dashboard's own token only reads for people the secrets do not map to a token of theirs
        identity = Identity(identity.name, identity.scopes & {"read"}, (), identity.tokens, "oidc", email)
    box.markdown(f"Signed in as **{email or st.user.get('name') or 'unknown'}**")
    box.caption(identity.describe() if mapped else "no Trellis token is mapped to you: read-only")
    if box.button("Sign out", key="oidc_logout", width="stretch"):
        st.logout()
    return token, identity


__all__ = ["ANONYMOUS", "Identity", "current_token", "identity_from", "oidc_configured", "sign_in"]
