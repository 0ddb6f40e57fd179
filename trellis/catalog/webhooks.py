"""Webhooks: configured URLs receive a JSON event for catalog changes, retried with backoff and recorded.

Every delivery is a row in ``catalog_webhook_deliveries`` (naming its hook, never
the URL, which often carries a token) before the first attempt, so a delivery the
collector had not finished when it stopped is attempted again when it starts.
Bodies are signed with HMAC-SHA256 when the hook has a secret (header
``X-Trellis-Signature: sha256=<hex>``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from trellis.catalog.models import Name
from trellis.collector import read_model_file

log = logging.getLogger("trellis.webhooks")

EVENTS = (
    "version.proposed",
    "approval.requested",
    "version.approved",
    "version.activated",
    "version.deprecated",
    "pin.expiring",
    "pin.expired",
    "consumer.deadline_passed",
    "gate.denied",
)


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description="How deliveries and logs name the hook; webhook-<hash> otherwise.")
    url: SecretStr = Field(description="Where events are POSTed (http or https); often carries a token.")
    events: list[str] = Field(default_factory=lambda: ["*"], description="Event names, or * for all.")
    secret: SecretStr | None = Field(None, description="Signs each body with HMAC-SHA256.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("the url must start with http:// or https://")
        return value

    @property
    def key(self) -> str:
        """The hook's name in the deliveries table and the log: never its URL, which may hold a token."""
        url = self.url.get_secret_value()
        return self.name or f"webhook-{hashlib.sha256(url.encode()).hexdigest()[:12]}"

    def wants(self, event: str) -> bool:
        return "*" in self.events or event in self.events

    def without_url(self, text: str) -> str:
        return text.replace(self.url.get_secret_value(), f"<{self.key}>")


class WebhooksFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhooks: list[Webhook]


class WebhooksFileError(ValueError):
    """The webhooks file cannot be read; the message names the file and the field."""


def read_webhooks(path: Path) -> list[Webhook]:
    return read_model_file(path, WebhooksFile, WebhooksFileError).webhooks


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Dispatcher:
    """Records and delivers webhook events on a thread of its own."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        hooks: list[Webhook],
        *,
        max_attempts: int = 6,
        first_delay: float = 1.0,
        post: Callable[..., httpx.Response] | None = None,
    ) -> None:
        self.con, self.hooks = con, hooks
        self.max_attempts, self.first_delay = max_attempts, first_delay
        self._post = post or httpx.post
        self._queue: queue.Queue[tuple[str, Webhook] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="trellis-webhooks", daemon=True)
        self._thread.start()
        self._requeue_unfinished()

    def publish(self, event: str, payload: dict[str, Any]) -> None:
        """Record a delivery for every hook that wants ``event``; delivery happens in the background."""
        body = orjson.loads(orjson.dumps({"event": event, "at": datetime.now(UTC), "data": payload}, default=str))
        for hook in self.hooks:
            if hook.wants(event):
                delivery_id = uuid.uuid4().hex
                self._execute(
                    "INSERT INTO catalog_webhook_deliveries (id, hook, event, payload, attempts, status, created_at) "
                    "VALUES (?, ?, ?, ?, 0, 'pending', now())",
                    [delivery_id, hook.key, event, orjson.dumps(body).decode()],
                )
                self._queue.put((delivery_id, hook))

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _execute(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.con.execute(sql, params).fetchall()

    def _requeue_unfinished(self) -> None:
        rows = self._execute("SELECT id, hook FROM catalog_webhook_deliveries WHERE status = 'pending'", [])
        by_key = {hook.key: hook for hook in self.hooks}
        for delivery_id, key in rows:
            if key in by_key:
                self._queue.put((delivery_id, by_key[key]))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._deliver(*item)

    def _deliver(self, delivery_id: str, hook: Webhook) -> None:
        rows = self._execute(
            "SELECT event, payload, attempts FROM catalog_webhook_deliveries WHERE id = ?", [delivery_id]
        )
        if not rows:
            return
        event, payload, attempts = rows[0]
        body = payload.encode()
        delay = self.first_delay * (2**attempts)
        while attempts < self.max_attempts:
            attempts += 1
            error = self._attempt(hook, event, body)
            if error is None:
                self._record(delivery_id, attempts, "delivered", None)
                return
            self._record(delivery_id, attempts, "pending" if attempts < self.max_attempts else "failed", error)
            log.warning("webhook %s for %s failed (attempt %d): %s", hook.key, event, attempts, error)
            if attempts < self.max_attempts:
                time.sleep(delay)
                delay *= 2

    def _attempt(self, hook: Webhook, event: str, body: bytes) -> str | None:
        headers = {"Content-Type": "application/json", "X-Trellis-Event": event}
        if hook.secret is not None:
            headers["X-Trellis-Signature"] = signature(hook.secret.get_secret_value(), body)
        try:
            response = self._post(hook.url.get_secret_value(), content=body, headers=headers, timeout=10)
        except httpx.HTTPError as exc:
            return hook.without_url(f"{type(exc).__name__}: {exc}")
        return None if response.status_code < 300 else f"HTTP {response.status_code}"

    def _record(self, delivery_id: str, attempts: int, status: str, error: str | None) -> None:
        self._execute(
            "UPDATE catalog_webhook_deliveries SET attempts = ?, status = ?, last_error = ?, "
            "delivered_at = CASE WHEN ? = 'delivered' THEN now() ELSE NULL END WHERE id = ?",
            [attempts, status, error, status, delivery_id],
        )
