"""Conditions checked each turn, and the filters of rules.

A check returns the notices that hold now, each with a key naming what it is about. The service records a
notice once while its key holds, and marks it cleared when the key no longer holds, so that it notifies
again if the condition returns.

- ``pin.expiring``: a pin expires within the rule's ``days_ahead`` (the key names the pin and its expiry,
  so a pin extended and expiring again notifies again);
- ``source.silent``: a service that sent metrics, logs or spans in the last ``LOOKBACK`` has sent none for
  the rule's ``minutes`` (the time of its newest point, span end or log record);
- ``consumer.behind``: a consumer of a definition runs an older version than the active one, which has
  been active for more than the rule's ``days`` (the catalog's convergence);
- ``webhook.failing``: of a webhook source's deliveries in the last ``minutes``, the rule's ``share`` or
  more were left unmapped (``webhook_deliveries``) or refused (the receivers' counts, kept in memory);
- ``dora.band_fell`` and ``cost.idle``: from the analytics' answers (``trends``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import duckdb

from trellis.catalog import consumer_convergence
from trellis.notifications import events, trends
from trellis.notifications.outbox import Notice
from trellis.notifications.rules import Rule
from trellis.notifications.trends import Reach, RefusalHistory, matches

LOOKBACK = timedelta(days=1)
"""source.silent watches the services that sent anything this recently: one gone longer is not news."""

SIGNAL_TIMES = {
    "otel_metrics_gauge": "time",
    "otel_metrics_sum": "time",
    "otel_metrics_histogram": "time",
    "otel_metrics_exponential_histogram": "time",
    "otel_metrics_summary": "time",
    "otel_logs": "time",
    "otel_traces": "end_time",
}
"""Each signal table and the column that says when its row happened."""


def pins_expiring(reach: Reach, rule: Rule, now: datetime) -> list[Notice]:
    if reach.catalog is None:
        return []
    found = events.expiring_pins(reach.catalog, now, timedelta(days=rule.options.days_ahead))
    return [
        Notice(rule.name, rule.on, key, _pin_subject(data), data, "rollouts")
        for key, data in found
        if matches(rule, {"environment": data["env"], "definition": data["definition"]})
    ]


def _pin_subject(data: dict[str, Any]) -> str:
    return f"Pin {data['pin']} of {data['app']}/{data['env']}/{data['workload']} expires {data['expires'][:10]}"


def last_seen(con: duckdb.DuckDBPyConnection, since: datetime) -> dict[str, datetime]:
    """The time of the newest row of each service that sent anything after ``since``."""
    union = " UNION ALL ".join(
        f"SELECT service_name, max({column}) AS last FROM {table} WHERE {column} > $since GROUP BY service_name"
        for table, column in SIGNAL_TIMES.items()
    )
    rows = con.execute(
        f"SELECT service_name, max(last) FROM ({union}) WHERE service_name IS NOT NULL GROUP BY ALL", {"since": since}
    ).fetchall()
    return {name: last for name, last in rows}


def sources_silent(reach: Reach, rule: Rule, now: datetime) -> list[Notice]:
    quiet = timedelta(minutes=rule.options.minutes)
    found = []
    for service, last in sorted(last_seen(reach.con, now - LOOKBACK).items()):
        data = {"service": service, "last_seen": last.isoformat(), "minutes": rule.options.minutes}
        if now - last > quiet and matches(rule, data):
            subject = f"{service} has sent nothing for {rule.options.minutes:g} minutes"
            found.append(Notice(rule.name, rule.on, f"service/{service}", subject, data, "connectors"))
    return found


def consumers_behind(reach: Reach, rule: Rule, now: datetime) -> list[Notice]:
    catalog = reach.catalog
    if catalog is None:
        return []
    with catalog.reading():
        active = [row.definition_id for row in catalog.repo.versions(states=("active",))]
        found = [(definition, consumer_convergence(catalog, definition)) for definition in sorted(active)]
    notices = []
    for definition, state in found:
        for row in state["rows"]:
            data = {"definition": definition, "active_version": state["active_version"], **_lagging(row)}
            if row["behind_days"] > rule.options.days and matches(rule, data):
                notices.append(_behind_notice(rule, data))
    return notices


def _lagging(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("app", "workload", "resource", "version")
    return {**{k: row[k] for k in keys}, "environment": row["env"], "behind_days": round(row["behind_days"], 1)}


def _behind_notice(rule: Rule, data: dict[str, Any]) -> Notice:
    consumer = f"{data['app']}/{data['environment']}/{data['workload']}.{data['resource']}"
    subject = (
        f"{consumer} runs {data['definition']} version {data['version']}, "
        f"{data['behind_days']:g} days behind version {data['active_version']}"
    )
    return Notice(rule.name, rule.on, f"consumer/{data['definition']}/{consumer}", subject, data, "rollouts")


UNMAPPED_SQL = """
    SELECT source, count(*) AS deliveries, count(*) FILTER (WHERE outcome = 'unmapped') AS unmapped,
           max(reason) FILTER (WHERE outcome = 'unmapped') AS reason
    FROM webhook_deliveries WHERE received_at > $since GROUP BY source
"""


def webhooks_failing(reach: Reach, rule: Rule, now: datetime) -> list[Notice]:
    """Webhook sources whose deliveries in the last ``minutes`` were refused or left unmapped at ``share`` or more."""
    window = timedelta(minutes=rule.options.minutes)
    stored = {row[0]: row[1:] for row in reach.con.execute(UNMAPPED_SQL, {"since": now - window}).fetchall()}
    refused = reach.refusals.within(now, window)
    notices = []
    for source in sorted(set(stored) | set(refused)):
        deliveries, unmapped, reason = stored.get(source, (0, 0, None))
        data = {"service": source, "deliveries": deliveries + refused.get(source, 0), "unmapped": unmapped,
                "refused": refused.get(source, 0), "last_unmapped_reason": reason}  # fmt: skip
        if (unmapped + data["refused"]) / data["deliveries"] >= rule.options.share and matches(rule, data):
            subject = (
                f"{source} webhooks: {unmapped} unmapped and {data['refused']} refused of {data['deliveries']} "
                f"deliveries in {rule.options.minutes:g} minutes"
            )
            notices.append(Notice(rule.name, rule.on, f"webhook/{source}", subject, data, "connectors"))
    return notices


Check = Callable[[Reach, Rule, datetime], list[Notice]]
CHECKS: dict[str, Check] = {
    "pin.expiring": pins_expiring,
    "source.silent": sources_silent,
    "consumer.behind": consumers_behind,
    "webhook.failing": webhooks_failing,
    "dora.band_fell": trends.bands_fallen,
    "cost.idle": trends.idle_costs,
}
"""What each condition-like rule checks every turn."""
FROM_ANSWERS = ("dora.band_fell", "cost.idle")
"""Conditions read from the analytics' answers, which cost seconds: checked less often."""


def check(reach: Reach, rule: Rule, now: datetime) -> list[Notice]:
    return CHECKS[rule.on](reach, rule, now)


__all__ = [
    "CHECKS",
    "FROM_ANSWERS",
    "LOOKBACK",
    "SIGNAL_TIMES",
    "Reach",
    "RefusalHistory",
    "check",
    "last_seen",
    "matches",
]
