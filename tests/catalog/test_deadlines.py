"""Housekeeping: expired pins revert, and consumers past a deadline are announced once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.catalog.conftest import (
    GROUPS,
    OUTPUTS,
    Clock,
    apply_docs,
    audit_entries,
    definition,
    new_catalog,
    pin,
    workload,
)
from trellis.catalog.deadlines import Housekeeper, announce_expiring_pins, announce_passed_deadlines
from trellis.catalog.service import Catalog


def _events(catalog: Catalog) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    catalog.on_event = lambda name, payload: seen.append((name, payload))
    return seen


def test_a_consumer_still_on_a_version_past_its_deadline_is_announced_once(clock: Clock) -> None:
    catalog = new_catalog(clock, GROUPS)
    apply_docs(catalog, definition("pg"))
    catalog.resolve(workload("api"), "shop", "prod", "production")
    apply_docs(catalog, definition("pg", outputs={**OUTPUTS["postgres"], "host": "new-host"}))
    clock.advance(days=catalog.deprecation_days + 1)
    events = _events(catalog)

    assert announce_passed_deadlines(catalog) == 1
    assert announce_passed_deadlines(catalog) == 0

    assert [name for name, _ in events] == ["consumer.deadline_passed"]
    assert events[0][1]["workload"] == "api" and events[0][1]["version"] == 1
    actions = [e["action"] for e in audit_entries(catalog.con)]
    assert actions.count("deadline-passed") == 1


def test_a_consumer_that_moved_on_is_not_announced(clock: Clock) -> None:
    catalog = new_catalog(clock, GROUPS)
    apply_docs(catalog, definition("pg"))
    catalog.resolve(workload("api"), "shop", "prod", "production")
    apply_docs(catalog, definition("pg", outputs={**OUTPUTS["postgres"], "host": "new-host"}))
    clock.advance(minutes=5)
    catalog.resolve(workload("api"), "shop", "prod", "production")
    clock.advance(days=catalog.deprecation_days + 1)

    assert announce_passed_deadlines(catalog) == 0


def test_housekeeping_reverts_an_expired_pin_and_audits_it(clock: Clock) -> None:
    catalog = new_catalog(clock, GROUPS)
    apply_docs(catalog, definition("pg"))
    apply_docs(catalog, definition("pg", outputs={**OUTPUTS["postgres"], "host": "v2"}))
    apply_docs(catalog, pin("hold", "pg", 1, clock() + timedelta(days=2), app="shop", env="prod"))
    events = _events(catalog)

    Housekeeper(catalog, interval=3600).run_once()
    assert "hold" in catalog.pins()

    clock.advance(days=3)
    Housekeeper(catalog, interval=3600).run_once()

    assert "hold" not in catalog.pins()
    assert [name for name, _ in events] == ["pin.expiring", "pin.expired"]
    assert [e["object"] for e in audit_entries(catalog.con) if e["action"] == "pin-expired"] == ["Pin/hold"]


def test_a_pin_about_to_expire_is_announced_once_per_expiry(clock: Clock) -> None:
    catalog = new_catalog(clock, GROUPS)
    apply_docs(catalog, definition("pg"))
    apply_docs(catalog, pin("hold", "pg", 1, clock() + timedelta(days=10), app="shop", env="prod"))
    events = _events(catalog)
    warning = timedelta(days=7)

    assert announce_expiring_pins(catalog, warning) == 0, "ten days ahead is not yet within the warning"
    clock.advance(days=4)
    assert announce_expiring_pins(catalog, warning) == 1
    assert announce_expiring_pins(catalog, warning) == 0, "announced once"
    apply_docs(catalog, pin("hold", "pg", 1, clock() + timedelta(days=5), app="shop", env="prod"))
    assert announce_expiring_pins(catalog, warning) == 1, "a new expiry is announced again"

    assert [name for name, _ in events] == ["pin.expiring", "pin.expiring"]
    assert events[0][1]["pin"] == "hold" and events[0][1]["owner"] == "team-shop"
    assert [e["object"] for e in audit_entries(catalog.con) if e["action"] == "pin-expiring"] == ["Pin/hold"] * 2
