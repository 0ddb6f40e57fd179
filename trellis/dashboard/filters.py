"""The filters every page shares: a time range, teams and environments, kept in the URL's query parameters.

``?range=30d`` (or ``?from=2026-01-01&to=2026-01-31``), ``?team=shop,payments`` and ``?env=production-eu``
survive a reload and can be sent to a colleague; the sidebar widgets and the URL stay in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import streamlit as st

RANGES = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", "custom": "Custom"}
DEFAULT_RANGE = "30d"


def today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Filters:
    """What the pages show: days ``start`` to ``end`` (both included), some teams and environments (all if none)."""

    start: date
    end: date
    teams: tuple[str, ...] = ()
    envs: tuple[str, ...] = ()

    @property
    def start_at(self) -> datetime:
        """First moment, naive UTC like the collector's timestamps."""
        return datetime.combine(self.start, datetime.min.time())

    @property
    def end_at(self) -> datetime:
        """End moment, not included: midnight after ``end``."""
        return datetime.combine(self.end + timedelta(days=1), datetime.min.time())

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def where(self, time_col: str | None = None, team_col: str | None = None, env_col: str | None = None) -> str:
        """A SQL condition for these filters on the given columns (``TRUE`` when none applies), with
        placeholders that ``params()`` fills: ``data.sql`` binds them, values never enter the text."""
        parts = []
        if time_col:
            parts.append(f"{time_col} >= CAST($f_start AS TIMESTAMP) AND {time_col} < CAST($f_end AS TIMESTAMP)")
        if team_col and self.teams:
            parts.append(f"list_contains($f_teams, {team_col})")
        if env_col and self.envs:
            parts.append(f"list_contains($f_envs, {env_col})")
        return " AND ".join(parts) or "TRUE"

    def params(self) -> dict[str, Any]:
        """The values of ``where``'s placeholders."""
        return {"f_start": self.start_at, "f_end": self.end_at, "f_teams": list(self.teams), "f_envs": list(self.envs)}

    def describe(self) -> str:
        teams = ", ".join(self.teams) or "every team"
        envs = ", ".join(self.envs) or "every environment"
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d} · {teams} · {envs}"


def from_params(params: dict[str, str], now: date | None = None) -> tuple[str, date, date, list[str], list[str]]:
    """Range key, start, end, teams and environments from query parameters; bad values fall back to defaults."""
    now = now or today()
    key = params.get("range", "")
    start, end = _parse_date(params.get("from")), _parse_date(params.get("to"))
    if start and end and start <= end:
        key = "custom"
    elif key not in RANGES or key == "custom":
        key = DEFAULT_RANGE
    if key != "custom":
        start, end = preset(key, now)
    assert start is not None and end is not None
    teams = [t for t in params.get("team", "").split(",") if t]
    envs = [e for e in params.get("env", "").split(",") if e]
    return key, start, end, teams, envs


def to_params(filters: Filters, key: str) -> dict[str, str]:
    """The query parameters that bring back ``filters``."""
    params = {"range": key} if key != "custom" else {"from": f"{filters.start}", "to": f"{filters.end}"}
    if filters.teams:
        params["team"] = ",".join(filters.teams)
    if filters.envs:
        params["env"] = ",".join(filters.envs)
    return params


def preset(key: str, now: date) -> tuple[date, date]:
    days = int(key.rstrip("d"))
    return now - timedelta(days=days - 1), now


def _parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def sidebar(teams: list[str], envs: list[str]) -> Filters:
    """The filter widgets in the sidebar, initialised from the URL once per session, and the URL kept in step."""
    state = st.session_state
    if "f_range" not in state:
        # a new session: the URL has them (the widgets are drawn on every run, so their state stays)
        key, start, end, chosen_teams, chosen_envs = from_params({k: st.query_params[k] for k in st.query_params})
        state.update(f_range=key, f_from=start, f_to=end, f_team=chosen_teams, f_env=chosen_envs)
    box = st.sidebar.container(border=True)
    key = box.selectbox("Time range", list(RANGES), format_func=RANGES.__getitem__, key="f_range")
    if key == "custom":
        start = box.date_input("From", key="f_from")
        end = box.date_input("To", key="f_to")
    else:
        start, end = preset(key, today())
    if not isinstance(start, date) or not isinstance(end, date) or end < start:
        box.warning("The range ends before it starts; showing the last 30 days.")
        start, end = preset(DEFAULT_RANGE, today())
    team = box.multiselect("Teams", _with(teams, state.get("f_team")), key="f_team", placeholder="Every team")
    env = box.multiselect("Environments", _with(envs, state.get("f_env")), key="f_env", placeholder="Every environment")
    filters = Filters(start, end, tuple(team), tuple(env))
    wanted = to_params(filters, key)
    for name in ("range", "from", "to", "team", "env"):
        if name in wanted:
            if st.query_params.get(name) != wanted[name]:
                st.query_params[name] = wanted[name]
        elif name in st.query_params:
            del st.query_params[name]
    return filters


def _with(options: list[str], chosen: object) -> list[str]:
    """The options plus whatever the URL chose that the data does not have (yet)."""
    extra = [c for c in chosen if c not in options] if isinstance(chosen, list) else []
    return sorted({*options, *extra})


__all__ = ["Filters", "from_params", "preset", "sidebar", "to_params"]
