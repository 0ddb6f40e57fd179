"""The notification service: each turn it finds what the rules are on, records it, and delivers what is due.

A turn reads the catalog's audit since the last turn and the announcements held since (events), checks the
conditions, records the notices in one transaction with the new audit position, then attempts every
notification whose attempt is due: sent, or retried after ``first_delay_seconds`` doubled per attempt, or
failed after ``max_attempts``. Delivery happens outside any transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from trellis.notifications import channels, conditions, events, outbox
from trellis.notifications.outbox import Notice
from trellis.notifications.rules import NotificationsFile, Rule

if TYPE_CHECKING:
    from trellis.analytics import Answers
    from trellis.catalog import Catalog

log = logging.getLogger("trellis.notifications")

SUBJECTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "approval.requested": lambda d: f"{d['definition']} version {d['version']} awaits approval",
    "version.activated": lambda d: f"{d['definition']} version {d['version']} is active",
    "consumer.deadline_passed": lambda d: (
        f"{d['app']}/{d['environment']}/{d['workload']} still uses {d['definition']} version {d['version']} "
        "past its deadline"
    ),
}
PAGES = {"approval.requested": "approvals", "version.activated": "catalog", "consumer.deadline_passed": "rollouts"}
"""The dashboard page an event's notice links to (conditions name their own)."""
ANSWERS_EVERY = timedelta(minutes=15)
"""Conditions read from the analytics' answers (``trends``) are checked this often: an answer costs seconds."""


class NotificationService:
    """Runs the rules of a notifications file on a cursor of its own."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        config: NotificationsFile,
        catalog: Catalog | None,
        answers: Answers | None = None,
        refusals: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self.con, self.config, self.catalog = con, config, catalog
        self.reach = conditions.Reach(con, catalog, answers, conditions.RefusalHistory(refusals))
        self.denials = events.GateDenials()
        self._answered: dict[str, tuple[datetime, list[Notice]]] = {}

    def on_catalog_event(self, name: str, payload: dict[str, Any]) -> None:
        """The catalog's announcements: ``gate.denied`` is held for the next turn (the rest is read from the store)."""
        if name == "gate.denied":
            self.denials.hold(datetime.now(UTC), payload)

    def turn(self, now: datetime | None = None) -> int:
        """Record what the rules found and attempt what is due; returns the notifications attempted."""
        now = now or datetime.now(UTC)
        self._record(now)
        return self._deliver(now)

    def scheduled_turn(self) -> None:
        attempted = self.turn()
        if attempted:
            log.info("notifications: %d attempted", attempted)

    def _record(self, now: datetime) -> None:
        position = outbox.read_position(self.con, events.AUDIT)
        start = events.audit_end(self.con) if position is None else position
        entries = events.read_audit(self.con, start) if self.catalog is not None else []
        found = self._audit_notices(entries) + self._denials()
        checked = {rule.name: self._check(rule, now) for rule in self._conditions()}
        holding = {name: held for name, held in checked.items() if held is not None}
        with outbox.transaction(self.con):
            for notice in found + [n for notices in holding.values() for n in notices]:
                outbox.add(self.con, notice, self._rule(notice.rule).channels, now)
            for rule_name, notices in holding.items():
                outbox.clear_others(self.con, rule_name, {n.key for n in notices}, now)
            outbox.write_position(self.con, events.AUDIT, entries[-1][0] if entries else start, now)

    def _check(self, rule: Rule, now: datetime) -> list[Notice] | None:
        """What holds for a condition now; None when it could not be checked (nothing is cleared then)."""
        cached = self._answered.get(rule.name)
        if rule.on in conditions.FROM_ANSWERS and cached is not None and now - cached[0] < ANSWERS_EVERY:
            return cached[1]
        try:
            found = conditions.check(self.reach, rule, now)
        except Exception:
            log.exception("notifications: the condition of rule %s could not be checked", rule.name)
            return None
        if rule.on in conditions.FROM_ANSWERS:
            self._answered[rule.name] = (now, found)
        return found

    def _rule(self, name: str) -> Rule:
        return next(rule for rule in self.config.rules if rule.name == name)

    def _conditions(self) -> list[Rule]:
        return [rule for rule in self.config.rules if rule.on in conditions.CHECKS]

    def _audit_notices(self, entries: list[tuple[int, datetime, str, str, str]]) -> list[Notice]:
        """The events the audit's entries are, for the rules on them (entries no rule wants are not read)."""
        catalog, wanted = self.catalog, {rule.on for rule in self.config.rules}
        if catalog is None:
            return []
        found = []
        for entry in entries:
            described = events.audit_notice(catalog, entry) if events.ACTIONS[entry[3]] in wanted else None
            if described is not None:
                event, data, key, people = described
                data.setdefault("team", events.team_of(catalog, data["definition"]))
                found += self._notices(event, key, data, people)
        return found

    def _denials(self) -> list[Notice]:
        found = []
        for at, payload in self.denials.take():
            found += [
                events.denial_notice(rule.name, at, payload)
                for rule in self.config.rules
                if rule.on == "gate.denied" and conditions.matches(rule, {"environment": payload.get("env")})
            ]
        return found

    def _notices(self, event: str, key: str, data: dict[str, Any], people: tuple[str, ...]) -> list[Notice]:
        subject = SUBJECTS[event](data)
        return [
            Notice(rule.name, event, key, subject, data, PAGES[event], people)
            for rule in self.config.rules
            if rule.on == event and conditions.matches(rule, data)
        ]

    def _deliver(self, now: datetime) -> int:
        items = outbox.due(self.con, now)
        for item in items:
            channel = self.config.channels.get(item.channel)
            error = (
                channels.send(channel, item, self.config.dashboard_url)
                if channel is not None
                else f"the channel {item.channel} is no longer in the notifications file"
            )
            if error:
                log.warning(
                    "notification %s on %s failed (attempt %d): %s", item.rule, item.channel, item.attempts + 1, error
                )
            with outbox.transaction(self.con):
                outbox.record_attempt(self.con, item, error, datetime.now(UTC), self._retry_in(item.attempts + 1))
        return len(items)

    def _retry_in(self, attempts: int) -> timedelta | None:
        retry = self.config.retry
        if attempts >= retry.max_attempts:
            return None
        return timedelta(seconds=retry.first_delay_seconds * 2 ** (attempts - 1))


__all__ = ["PAGES", "SUBJECTS", "NotificationService"]
