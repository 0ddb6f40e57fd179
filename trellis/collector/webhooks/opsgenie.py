"""Opsgenie (the Webhook integration's alert action data): a created alert opens an incident, a closed
alert resolves it.

Opsgenie signs nothing: the integration sends the secret in a custom header (``header`` in the
connectors file, ``X-Trellis-Token`` by default), compared in constant time. Its deliveries carry no id;
the alert, the action and the alert's update time name one, the same when Opsgenie sends it again.
"""

from __future__ import annotations

from collections.abc import Mapping

from trellis.collector.events import INCIDENT_EVENT
from trellis.collector.webhooks.connectors import OpsgenieConfig
from trellis.collector.webhooks.receiver import (
    Event,
    Lookups,
    Payload,
    PayloadUnreadable,
    Reading,
    Receiver,
    SenderRefused,
    header,
    optional,
    same_secret,
    text,
    value,
)

INCIDENT_STATUSES = {"Create": ("opened", "alert.createdAt"), "Close": ("resolved", "alert.updatedAt")}


class OpsgenieReceiver(Receiver[OpsgenieConfig]):
    source = "opsgenie"
    config = OpsgenieConfig

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, config: OpsgenieConfig) -> None:
        if not same_secret(header(headers, config.header), secret):
            raise SenderRefused(f"the {config.header} header does not hold the secret")

    def delivery(self, headers: Mapping[str, str], payload: Payload) -> tuple[str | None, str | None]:
        action, alert = optional(payload, "action"), optional(payload, "alert.alertId")
        named = action is not None and alert is not None
        return f"{alert}/{action}/{optional(payload, 'alert.updatedAt')}" if named else None, action

    def read(self, event: str, payload: Payload, config: OpsgenieConfig, lookups: Lookups) -> Reading:
        found = INCIDENT_STATUSES.get(event)
        if found is None:
            return Reading(ignored=f"Opsgenie {event!r} actions neither open nor close an incident")
        status, moment = found
        attributes = {"incident.id": f"opsgenie-{text(payload, 'alert.alertId')}", "incident.status": status}
        keys = {
            "entity": str(optional(payload, "alert.entity") or ""),
            "source": str(optional(payload, "alert.source") or ""),
            "alias": str(optional(payload, "alert.alias") or ""),
            "integration": str(optional(payload, "integrationName") or ""),
        }
        return Reading(events=[Event(INCIDENT_EVENT, epoch_instant(payload, moment), attributes, keys)])


def epoch_instant(payload: Payload, path: str) -> int:
    """A Unix time at a dotted path in ns, whether given in seconds, milliseconds or nanoseconds (Opsgenie
    sends ``createdAt`` in milliseconds and ``updatedAt`` in nanoseconds)."""
    found = value(payload, path)
    if isinstance(found, bool) or not isinstance(found, int) or found <= 0:
        raise PayloadUnreadable(f"the payload's {path} is not a Unix time")
    digits = len(str(found))
    return found * (10**9 if digits <= 11 else 10**6 if digits <= 14 else 1)


__all__ = ["OpsgenieReceiver"]
