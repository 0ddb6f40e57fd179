"""Conditions read from the analytics' answers, and what every condition check is given.

- ``dora.band_fell``: a team's DORA band (deployment frequency, lead time, change failure rate, recovery) in
  an environment is lower in the last whole week (Monday to Monday, UTC) than in the week before (the
  ``dora`` job's team level), so that a week's bands are those of whole weeks;
- ``cost.idle``: a team's idle cost (requested, not used) over the last 7 days is above the rule's
  ``threshold``, in the price table's currency (the ``cost`` job's team level).

Each is the job's answer computed for the period (``Answers``), written nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from trellis.analytics import Answers, Period, Slice
from trellis.notifications.outbox import Notice
from trellis.notifications.rules import Rule

if TYPE_CHECKING:
    from trellis.catalog import Catalog

WEEK = timedelta(days=7)
RANKS = {"low": 0, "medium": 1, "high": 2, "elite": 3}
BANDS = ("deployment_frequency", "lead_time", "change_failure_rate", "recovery")
"""The DORA metrics whose band a rule watches (``<metric>_band`` in the dora job's answer)."""

FACETS = {"teams": "team", "environments": "environment", "definitions": "definition", "services": "service"}
"""A filter's lists and the field of an event each one reads."""


class RefusalHistory:
    """The webhook receivers' refusals per source since the start, as each turn saw them, so that a check
    knows how many came in a window (refusals are counted in memory only, never stored)."""

    def __init__(self, read: Callable[[], dict[str, int]] | None = None) -> None:
        self.read = read
        self.seen: list[tuple[datetime, dict[str, int]]] = []

    def within(self, now: datetime, window: timedelta) -> dict[str, int]:
        """Refusals per source after ``now - window`` (since the start when it began later)."""
        if self.read is None:
            return {}
        counts, start = self.read(), now - window
        self.seen = [s for s in self.seen if s[0] > now - KEPT] + [(now, counts)]
        baseline = next((seen for at, seen in reversed(self.seen) if at <= start), {})
        return {source: n - baseline.get(source, 0) for source, n in counts.items() if n > baseline.get(source, 0)}


KEPT = timedelta(days=1)
"""How long the refusal history is kept: the longest window a webhook.failing rule can look back."""


@dataclass
class Reach:
    """What a condition check reads: the service's cursor, the catalog when it is served, the analytics,
    and the webhook receivers' refusals."""

    con: duckdb.DuckDBPyConnection
    catalog: Catalog | None
    answers: Answers | None
    refusals: RefusalHistory = field(default_factory=RefusalHistory)


def matches(rule: Rule, data: dict[str, Any]) -> bool:
    """Whether what an event says passes the rule's filter: every list given must hold the event's value."""
    for listed, facet in FACETS.items():
        wanted = getattr(rule.filter, listed)
        if wanted and data.get(facet) not in wanted:
            return False
    return True


def _week(answers: Answers, job: str, end: datetime) -> pl.DataFrame:
    naive = end.astimezone(UTC).replace(tzinfo=None)
    frame = answers.answer(job, Period(naive - WEEK, naive), Slice()).frame
    return frame.filter((pl.col("level") == "team") & (pl.col("bucket") == "period"))


def bands_fallen(reach: Reach, rule: Rule, now: datetime) -> list[Notice]:
    if reach.answers is None:
        return []
    keys = ["service_namespace", "environment"]
    monday = (now.astimezone(UTC) - timedelta(days=now.astimezone(UTC).weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    before = _week(reach.answers, "dora", monday - WEEK).select(*keys, *(f"{m}_band" for m in BANDS))
    latest = _week(reach.answers, "dora", monday).select(*keys, *(f"{m}_band" for m in BANDS))
    joined = latest.join(before, on=keys, how="inner", suffix="_before", nulls_equal=True)
    found = []
    for row in joined.iter_rows(named=True):
        for metric in BANDS:
            was, now_band = row[f"{metric}_band_before"], row[f"{metric}_band"]
            data = {"team": row["service_namespace"], "environment": row["environment"], "metric": metric,
                    "band": now_band, "band_before": was}  # fmt: skip
            if was in RANKS and now_band in RANKS and RANKS[now_band] < RANKS[was] and matches(rule, data):
                found.append(_band_notice(rule, data))
    return found


def _band_notice(rule: Rule, data: dict[str, Any]) -> Notice:
    where = f"{data['team']} in {data['environment']}"
    subject = f"{where}: {data['metric'].replace('_', ' ')} fell from {data['band_before']} to {data['band']}"
    key = f"dora/{data['team']}/{data['environment']}/{data['metric']}"
    return Notice(rule.name, rule.on, key, subject, data, "delivery")


def idle_costs(reach: Reach, rule: Rule, now: datetime) -> list[Notice]:
    if reach.answers is None:
        return []
    found = []
    for row in _week(reach.answers, "cost", now).iter_rows(named=True):
        idle = round(row["idle_cost"] or 0.0, 2)
        data = {
            "team": row["team"],
            "idle_cost": idle,
            "currency": row["currency"],
            "threshold": rule.options.threshold,
        }
        if idle > rule.options.threshold and matches(rule, data):
            subject = f"{row['team']}: idle cost {idle:,.2f} {row['currency']} over 7 days"
            found.append(Notice(rule.name, rule.on, f"cost/{row['team']}", subject, data, "resources"))
    return found


__all__ = ["BANDS", "FACETS", "KEPT", "Reach", "RefusalHistory", "bands_fallen", "idle_costs", "matches"]
