"""PagerDuty (v3 webhooks): ``incident.triggered`` and ``incident.reopened`` open an incident,
``incident.resolved`` resolves it.

The sender is checked by ``X-PagerDuty-Signature``: one or more comma-separated ``v1=<hex>`` HMAC-SHA256
signatures of the body (several while PagerDuty rotates the secret), any of which may match. The
payload's ``event.id`` names the delivery.
"""

from __future__ import annotations

from collections.abc import Mapping

from trellis.collector.events import INCIDENT_EVENT
from trellis.collector.webhooks.connectors import PagerDutyConfig
from trellis.collector.webhooks.receiver import (
    Event,
    Lookups,
    Payload,
    Reading,
    Receiver,
    SenderRefused,
    header,
    hmac_sha256,
    instant,
    optional,
    same_secret,
    text,
)

SIGNATURE_HEADER = "X-PagerDuty-Signature"
INCIDENT_STATUSES = {"incident.triggered": "opened", "incident.reopened": "opened", "incident.resolved": "resolved"}


class PagerDutyReceiver(Receiver[PagerDutyConfig]):
    source = "pagerduty"
    config = PagerDutyConfig

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, config: PagerDutyConfig) -> None:
        expected = f"v1={hmac_sha256(secret, body)}"
        given = [part.strip() for part in header(headers, SIGNATURE_HEADER).split(",")]
        if not any(same_secret(signature, expected) for signature in given):
            raise SenderRefused(f"no {SIGNATURE_HEADER} signature matches the body signed with the secret")

    def delivery(self, headers: Mapping[str, str], payload: Payload) -> tuple[str | None, str | None]:
        return optional(payload, "event.id"), optional(payload, "event.event_type")

    def read(self, event: str, payload: Payload, config: PagerDutyConfig, lookups: Lookups) -> Reading:
        status = INCIDENT_STATUSES.get(event)
        if status is None:
            return Reading(ignored=f"PagerDuty {event} events neither open nor resolve an incident")
        attributes = {"incident.id": f"pagerduty-{text(payload, 'event.data.id')}", "incident.status": status}
        keys = {
            "service": text(payload, "event.data.service.summary"),
            "service_id": text(payload, "event.data.service.id"),
        }
        return Reading(events=[Event(INCIDENT_EVENT, instant(payload, "event.occurred_at"), attributes, keys)])


__all__ = ["PagerDutyReceiver"]
