"""The seam every webhook source goes through: check the sender, name the delivery, read the payload.

A ``Receiver`` knows one tool's webhooks and nothing of the store: it says whether a request comes from
the configured sender, what the delivery and its event are called, and what the payload means as
records of the events contract (docs/events.md) and as changes (a revision's first-commit time).
Which workload those records belong to is the connectors file's business, not the receiver's.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from trellis.collector.events import ContractError, parse_time
from trellis.collector.webhooks.connectors import SourceConfig

C = TypeVar("C", bound=SourceConfig)
Payload = dict[str, Any]


@dataclass(frozen=True)
class Event:
    """One deployment or incident event, before the connectors file names its workload."""

    name: str
    """``trellis.deployment`` or ``trellis.incident``."""
    time: int
    """When it happened, in nanoseconds since the epoch."""
    attributes: dict[str, str]
    """The event's attributes by the contract's names (``deployment.id``, ``incident.status``...)."""
    keys: dict[str, str]
    """The payload values the connectors file's ``match`` selects a workload by."""


@dataclass(frozen=True)
class Change:
    """A revision and when the first commit of the change that brought it was made."""

    repository: str
    revision: str
    first_commit_at: int
    """Nanoseconds since the epoch."""


@dataclass
class Reading:
    """What a payload means: events, changes, or why it means nothing to Trellis (``ignored``)."""

    events: list[Event] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    """The payload values the changes' workload is selected by: changes of an unmapped repository are not kept."""
    ignored: str | None = None


class Lookups(Protocol):
    """What a receiver may ask of what earlier deliveries recorded."""

    def first_commit(self, repository: str, revision: str) -> int | None:
        """The first-commit time (ns since the epoch) recorded for a revision by an earlier push or merge."""


class SenderRefused(Exception):
    """The request does not come from the configured sender; the message says why, never the secret."""


class Receiver(ABC, Generic[C]):
    """One tool's webhooks. ``source`` is the name in ``/api/v1/webhooks/{source}`` and in the
    connectors file; ``config`` the type of its section there."""

    source: str
    config: type[C]

    @abstractmethod
    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, config: C) -> None:
        """Raise SenderRefused unless the request carries proof of the secret (compared in constant time)."""

    @abstractmethod
    def delivery(self, headers: Mapping[str, str], payload: Payload) -> tuple[str | None, str | None]:
        """The delivery's id (the same when the sender delivers it again) and its event, each None when unknown;
        called with an empty payload before the body is trusted."""

    @abstractmethod
    def read(self, event: str, payload: Payload, config: C, lookups: Lookups) -> Reading:
        """What the payload means; raises PayloadUnreadable when a value it needs is missing or wrong."""


class PayloadUnreadable(ValueError):
    """A payload lacks a value its event needs; the message names it."""


def value(payload: Payload, path: str) -> Any:
    """The value at a dotted path (``deployment.sha``), or PayloadUnreadable naming the path."""
    current: Any = payload
    for part in path.split("."):
        if not isinstance(current, dict) or current.get(part) is None:
            raise PayloadUnreadable(f"the payload has no {path}")
        current = current[part]
    return current


def text(payload: Payload, path: str) -> str:
    """The value at a dotted path as text: a string or a number."""
    found = value(payload, path)
    if isinstance(found, bool) or not isinstance(found, str | int):
        raise PayloadUnreadable(f"the payload's {path} is not a string")
    return str(found)


def instant(payload: Payload, path: str) -> int:
    """The RFC 3339 time at a dotted path, in nanoseconds since the epoch."""
    return parse_instant(text(payload, path), path)


def parse_instant(found: str, path: str) -> int:
    """RFC 3339 text (a space may stand for the T) in nanoseconds since the epoch; PayloadUnreadable naming
    the payload's ``path`` otherwise."""
    try:
        return parse_time(found, path)
    except ContractError:
        raise PayloadUnreadable(f"the payload's {path} is {found!r}, not a time with a time zone") from None


def optional(payload: Payload, path: str) -> Any:
    """The value at a dotted path, or None."""
    try:
        return value(payload, path)
    except PayloadUnreadable:
        return None


def hmac_sha256(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of a body under a secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Whether two secrets or signatures are equal, in time that does not depend on where they differ."""
    return hmac.compare_digest(given.encode(), expected.encode())


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value, or SenderRefused naming the missing header."""
    found = headers.get(name.lower())
    if not found:
        raise SenderRefused(f"the {name} header is missing")
    return found


__all__ = [
    "Change",
    "Event",
    "Lookups",
    "Payload",
    "PayloadUnreadable",
    "Reading",
    "Receiver",
    "SenderRefused",
    "header",
    "hmac_sha256",
    "instant",
    "optional",
    "parse_instant",
    "same_secret",
    "text",
    "value",
]
