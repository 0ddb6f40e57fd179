"""Webhooks: events reach a real HTTP server, signed, retried with backoff, recorded, and resumed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.catalog.conftest import GROUPS, Clock, apply_docs, definition
from trellis.catalog.service import Catalog
from trellis.catalog.tables import CATALOG_SCHEMA_VERSION, migrate_catalog
from trellis.catalog.webhooks import Dispatcher, Webhook, WebhooksFileError, read_webhooks


class Receiver:
    """A local HTTP server that records what it receives and fails the first ``failures`` requests."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = 500 if len(receiver.received) <= receiver.failures else 204
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[str]:
        return [json.loads(body)["event"] for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("the condition did not hold in time")


def deliveries(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    return con.execute(
        "SELECT event, status, attempts FROM catalog_webhook_deliveries ORDER BY created_at, event"
    ).fetchall()


def test_activating_a_definition_sends_signed_events_in_order(receiver: Receiver) -> None:
    con = duckdb.connect()
    migrate_catalog(con)
    hook = Webhook(url=receiver.url, secret="s3cret")  # type: ignore[arg-type]
    dispatcher = Dispatcher(con.cursor(), [hook], first_delay=0.01)
    catalog = Catalog(con, groups=GROUPS, now=Clock(), on_event=dispatcher.publish)

    apply_docs(catalog, definition("pg"))
    wait_for(lambda: len(receiver.received) == 2)
    dispatcher.close()

    assert receiver.events() == ["version.proposed", "version.activated"]
    headers, body = receiver.received[1]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Trellis-Signature"] == expected
    assert headers["X-Trellis-Event"] == "version.activated"
    assert json.loads(body)["data"]["definition"] == "pg"
    assert [status for _, status, _ in deliveries(con)] == ["delivered", "delivered"]


def test_a_failing_hook_is_retried_with_backoff_and_each_attempt_recorded() -> None:
    flaky = Receiver(failures=2)
    con = duckdb.connect()
    migrate_catalog(con)
    dispatcher = Dispatcher(con.cursor(), [Webhook(url=flaky.url)], first_delay=0.01)
    try:
        dispatcher.publish("version.approved", {"definition": "pg"})
        wait_for(lambda: deliveries(con) == [("version.approved", "delivered", 3)])
    finally:
        dispatcher.close()
        flaky.close()
    assert len(flaky.received) == 3


def test_a_hook_that_keeps_failing_is_marked_failed_after_the_last_attempt() -> None:
    broken = Receiver(failures=100)
    con = duckdb.connect()
    migrate_catalog(con)
    dispatcher = Dispatcher(con.cursor(), [Webhook(url=broken.url)], max_attempts=3, first_delay=0.01)
    try:
        dispatcher.publish("pin.expired", {"pin": "p"})
        wait_for(lambda: deliveries(con) == [("pin.expired", "failed", 3)])
    finally:
        dispatcher.close()
        broken.close()
    error = con.execute("SELECT last_error FROM catalog_webhook_deliveries").fetchall()[0][0]
    assert error == "HTTP 500"


def test_hooks_receive_only_the_events_they_subscribe_to(receiver: Receiver) -> None:
    con = duckdb.connect()
    migrate_catalog(con)
    dispatcher = Dispatcher(con.cursor(), [Webhook(url=receiver.url, events=["version.activated"])])
    dispatcher.publish("version.proposed", {})
    dispatcher.publish("version.activated", {})
    wait_for(lambda: len(receiver.received) == 1)
    dispatcher.close()
    assert receiver.events() == ["version.activated"]
    assert len(deliveries(con)) == 1


def test_a_delivery_left_pending_is_sent_when_the_dispatcher_starts_again(receiver: Receiver, tmp_path: Path) -> None:
    path = tmp_path / "t.duckdb"
    con = duckdb.connect(str(path))
    migrate_catalog(con)
    hook = Webhook(url=receiver.url)  # type: ignore[arg-type]
    con.execute(
        "INSERT INTO catalog_webhook_deliveries (id, hook, event, payload, attempts, status, created_at) "
        "VALUES ('d1', ?, 'version.activated', ?, 0, 'pending', now())",
        [hook.key, json.dumps({"event": "version.activated", "data": {}})],
    )

    dispatcher = Dispatcher(con.cursor(), [hook], first_delay=0.01)
    wait_for(lambda: deliveries(con) == [("version.activated", "delivered", 1)])
    dispatcher.close()
    assert receiver.events() == ["version.activated"]


def test_a_webhooks_file_with_an_unknown_field_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text("webhooks:\n  - url: http://127.0.0.1:1/x\n    secrett: oops\n")
    with pytest.raises(WebhooksFileError, match=r"hooks\.yaml: field webhooks\.0\.secrett"):
        read_webhooks(path)


def test_a_webhooks_file_reads_urls_events_and_secrets(tmp_path: Path) -> None:
    path = tmp_path / "hooks.yaml"
    path.write_text(
        "webhooks:\n  - url: https://chat.internal/h\n    events: [pin.expired]\n    secret: zq-signing-key\n"
    )
    [hook] = read_webhooks(path)
    assert hook.wants("pin.expired") and not hook.wants("version.proposed")
    assert hook.secret is not None and hook.secret.get_secret_value() == "zq-signing-key"
    assert "zq-signing-key" not in repr(hook)


def test_deliveries_and_the_log_name_the_hook_never_its_url(caplog: pytest.LogCaptureFixture) -> None:
    """Webhook URLs often carry tokens: the read scope sees the deliveries table, and logs travel far."""
    broken = Receiver(failures=100)
    url = f"{broken.url}?token=zq-hook-token-0123456789"
    dead = "http://127.0.0.1:9/hook?token=zq-other-token-9876543210"
    con = duckdb.connect()
    migrate_catalog(con)
    hooks = [Webhook(name="chat", url=url), Webhook(url=dead)]  # type: ignore[arg-type]
    dispatcher = Dispatcher(con.cursor(), hooks, max_attempts=2, first_delay=0.01)
    try:
        with caplog.at_level("WARNING", logger="trellis.webhooks"):
            dispatcher.publish("version.activated", {"definition": "pg"})
            wait_for(lambda: [s for _, s, _ in deliveries(con)] == ["failed", "failed"])
    finally:
        dispatcher.close()
        broken.close()

    table = str(con.execute("SELECT * FROM catalog_webhook_deliveries").fetchall())
    assert "token" not in table and "token" not in caplog.text
    assert con.execute("SELECT hook FROM catalog_webhook_deliveries ORDER BY hook").fetchall() == [
        ("chat",),
        (hooks[1].key,),
    ]
    assert hooks[1].key.startswith("webhook-") and len(hooks[1].key) == len("webhook-") + 12
    assert "webhook chat for version.activated failed (attempt 1): HTTP 500" in caplog.text


def test_an_upgrade_names_the_hooks_of_deliveries_recorded_with_their_url(receiver: Receiver, tmp_path: Path) -> None:
    """A database whose deliveries still hold URLs loses them, and its pending deliveries still go out."""
    from trellis.catalog.tables import _V1
    from trellis.collector import run_migrations

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    run_migrations(con, "catalog_schema", [(1, _V1)])
    con.execute(
        "INSERT INTO catalog_webhook_deliveries VALUES ('d1', ?, 'version.activated', ?, 0, 'pending', NULL, "
        "now(), NULL)",
        [receiver.url, json.dumps({"event": "version.activated", "data": {}})],
    )

    assert migrate_catalog(con) == CATALOG_SCHEMA_VERSION
    dispatcher = Dispatcher(con.cursor(), [Webhook(url=receiver.url)], first_delay=0.01)  # type: ignore[arg-type]
    wait_for(lambda: deliveries(con) == [("version.activated", "delivered", 1)])
    dispatcher.close()

    columns = [r[0] for r in con.execute("DESCRIBE catalog_webhook_deliveries").fetchall()]
    assert "url" not in columns and "hook" in columns


def test_a_proposal_waiting_for_approval_names_who_can_approve(clock: Clock) -> None:
    from tests.catalog.conftest import production_approval_rule

    seen: list[tuple[str, dict[str, Any]]] = []
    catalog = Catalog(duckdb.connect(), groups=GROUPS, now=clock, on_event=lambda n, p: seen.append((n, p)))
    apply_docs(catalog, production_approval_rule())
    apply_docs(catalog, definition("pg"), actor="alice")
    catalog.approve("pg", 1, "bob")

    requested = [payload for name, payload in seen if name == "approval.requested"]
    assert len(requested) == 2, "once when proposed, once more after the first approval"
    assert requested[0]["approvers"] == ["bob", "carol"], "the group without the proposer"
    assert requested[0]["missing"] == ["production-changes needs 2 more from platform-admins"]
    assert requested[1]["approvers"] == ["carol"], "without who approved already"
    assert [name for name, _ in seen][-2:] == ["version.approved", "approval.requested"]


def test_a_denied_deployment_is_announced(clock: Clock) -> None:
    from tests.catalog.conftest import score
    from trellis.catalog.api import run_operation
    from trellis.catalog.operations import OPERATIONS

    seen: list[tuple[str, dict[str, Any]]] = []
    catalog = Catalog(duckdb.connect(), groups=GROUPS, now=clock, on_event=lambda n, p: seen.append((n, p)))
    payload = {"workload": score(), "app": "shop", "env": "prod", "env_type": "production"}

    answer = run_operation(catalog, OPERATIONS["check"], "ci", payload)

    assert answer["decision"] == "deny"
    assert seen == [
        (
            "gate.denied",
            {"app": "shop", "env": "prod", "env_type": "production", "workload": "api",
             "reasons": answer["reasons"], "asked_by": "ci"},
        )
    ]  # fmt: skip


@pytest.mark.slow
def test_a_collector_with_a_webhooks_file_starts_on_a_new_database(tmp_path: Path, receiver: Receiver) -> None:
    import httpx

    from trellis.testing import start_collector

    hooks = tmp_path / "hooks.yaml"
    hooks.write_text(f"webhooks:\n  - name: ci\n    url: {receiver.url}\n")
    running = start_collector(tmp_path / "new.duckdb", "--webhooks-file", str(hooks))
    try:
        body = {"documents": [definition("pg")], "source": "pg.yaml"}
        httpx.post(f"{running.api}/api/v1/catalog/apply", json=body, timeout=30).raise_for_status()
        wait_for(lambda: receiver.events() == ["version.proposed", "version.activated"])
    finally:
        assert running.stop() == 0
