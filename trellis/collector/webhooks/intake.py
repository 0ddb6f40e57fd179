"""From a request to an answer and a batch: the steps every source shares, whatever its receiver.

The sender is checked before anything of the body is read; then the JSON, a delivery already accepted,
what the payload means, and which workload the connectors file gives it. A refused delivery (a sender that
does not prove itself, a body that is not JSON) changes nothing: it is counted in memory and logged, so
that nobody without the secret can grow a table. Every other outcome is a ``webhook_deliveries`` row; only
an accepted delivery brings events and changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson

from trellis.collector.batch import ExportBatch
from trellis.collector.webhooks.connectors import Connector, Workload
from trellis.collector.webhooks.receiver import PayloadUnreadable, Reading, Receiver, SenderRefused
from trellis.collector.webhooks.records import Delivery, accepted_batch, outcome_batch


@dataclass
class Answer:
    """What the sender is told, and the batch to commit before telling it."""

    status: int
    outcome: str
    reason: str | None
    batch: ExportBatch | None
    """None for a refused delivery, which is stored nowhere."""

    def body(self) -> dict[str, Any]:
        return {"outcome": self.outcome, **({"reason": self.reason} if self.reason else {})}


class StoredLookups:
    """What earlier deliveries recorded, read on a cursor of the store."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor = cursor

    def first_commit(self, repository: str, revision: str) -> int | None:
        row = self.cursor.execute(
            "SELECT epoch_ns(first_commit_at) FROM webhook_changes WHERE repository = ? AND revision = ?",
            [repository, revision],
        ).fetchone()
        return int(row[0]) if row else None

    def accepted(self, source: str, delivery_id: str) -> bool:
        row = self.cursor.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE source = ? AND delivery_id = ? AND outcome = 'accepted'",
            [source, delivery_id],
        ).fetchone()
        return bool(row and row[0])


def take(
    receiver: Receiver[Any], connector: Connector, headers: Mapping[str, str], body: bytes, lookups: StoredLookups,
    received_at: int,
) -> Answer:  # fmt: skip
    """Check, read and map one delivery."""
    delivery_id, event = receiver.delivery(headers, {})
    delivery = Delivery(receiver.source, delivery_id, event, received_at)
    try:
        receiver.verify(headers, body, connector.secret.get_secret_value(), connector.config)
    except SenderRefused as exc:
        return Answer(401, "refused", str(exc), None)
    try:
        payload = _payload(body)
    except PayloadUnreadable as exc:
        return Answer(400, "refused", str(exc), None)
    delivery = Delivery(receiver.source, *receiver.delivery(headers, payload), received_at)
    if delivery.delivery_id is not None and lookups.accepted(receiver.source, delivery.delivery_id):
        reason = f"delivery {delivery.delivery_id} was accepted already; it counts once"
        return Answer(200, "ignored", reason, outcome_batch(delivery, "ignored", reason))
    try:
        reading = receiver.read(delivery.event or "", payload, connector.config, lookups)
        return _map(receiver, connector, delivery, reading)
    except PayloadUnreadable as exc:
        return Answer(200, "unmapped", str(exc), outcome_batch(delivery, "unmapped", str(exc)))


def _payload(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadUnreadable(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadUnreadable("the body must be a JSON object")
    return payload


def _map(receiver: Receiver[Any], connector: Connector, delivery: Delivery, reading: Reading) -> Answer:
    if reading.ignored is not None:
        return Answer(200, "ignored", reading.ignored, outcome_batch(delivery, "ignored", reading.ignored))
    events = [(event, _workload(receiver.source, connector, event.keys)) for event in reading.events]
    if reading.changes:
        _workload(receiver.source, connector, reading.keys)
    return Answer(200, "accepted", None, accepted_batch(delivery, events, reading.changes))


def _workload(source: str, connector: Connector, keys: dict[str, str]) -> Workload:
    workload = connector.config.workload(keys)
    if workload is None:
        values = ", ".join(f"{key} {value!r}" for key, value in keys.items()) or "no values"
        raise PayloadUnreadable(f"no {source}.workloads entry of the connectors file matches {values}")
    return workload


__all__ = ["Answer", "StoredLookups", "take"]
