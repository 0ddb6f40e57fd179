"""Housekeeping the collector runs on a schedule: expired pins revert, passed deadlines are announced."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from trellis.catalog.convergence import consumers

if TYPE_CHECKING:
    from trellis.catalog.service import Catalog

log = logging.getLogger("trellis.catalog")


def announce_passed_deadlines(catalog: Catalog) -> int:
    """Audit and announce, once each, the consumers still on a version whose deadline has passed."""
    now = catalog.now()
    announced = {r[0] for r in catalog.repo.rows("SELECT object FROM catalog_audit WHERE action = 'deadline-passed'")}
    late = []
    for version in catalog.repo.versions(states=("deprecated",)):
        if version.deadline is None or version.deadline > now:
            continue
        for consumer in consumers(catalog, version.definition_id):
            obj = (
                f"ResourceDefinition/{version.definition_id}@{version.version} "
                f"{consumer['app']}/{consumer['env']}/{consumer['workload']}.{consumer['resource']}"
            )
            if consumer["version"] == version.version and obj not in announced:
                late.append((obj, {**consumer, "definition": version.definition_id, "deadline": version.deadline}))
    if late:
        with catalog.transaction():
            for obj, payload in late:
                catalog.record("trellis", "deadline-passed", obj, {"deadline": str(payload["deadline"])})
                catalog.announce("consumer.deadline_passed", payload)
    return len(late)


def announce_expiring_pins(catalog: Catalog, warning: timedelta) -> int:
    """Audit and announce, once per pin and expiry, the pins that expire within ``warning``."""
    now = catalog.now()
    announced = {tuple(r) for r in catalog.repo.rows(
        "SELECT object, diff->>'expires' FROM catalog_audit WHERE action = 'pin-expiring'"
    )}  # fmt: skip
    soon = [
        (pin_id, pin)
        for pin_id, pin in catalog.pins().items()
        if now < pin.expires <= now + warning and (f"Pin/{pin_id}", pin.expires.isoformat()) not in announced
    ]
    with catalog.transaction():
        for pin_id, pin in soon:
            catalog.record("trellis", "pin-expiring", f"Pin/{pin_id}", {"expires": pin.expires.isoformat()})
            catalog.announce("pin.expiring", {"pin": pin_id, **pin.model_dump(mode="json")})
    return len(soon)


class Housekeeper:
    """Runs pin expiry and the deadline and pin announcements every ``interval`` seconds until stopped."""

    def __init__(self, catalog: Catalog, interval: float, pin_warning: timedelta = timedelta(days=7)) -> None:
        self.catalog, self.interval, self.pin_warning = catalog, interval, pin_warning
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trellis-housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def run_once(self) -> None:
        with self.catalog.transaction():
            expired = self.catalog.expire_pins()
            late = announce_passed_deadlines(self.catalog)
            announce_expiring_pins(self.catalog, self.pin_warning)
        if expired or late:
            log.info("housekeeping: %d pins expired, %d consumers past a deadline", len(expired), late)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("housekeeping failed; it runs again in %g s", self.interval)
