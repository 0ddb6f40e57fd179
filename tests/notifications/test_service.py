"""Notifications end to end: a running collector with a notifications file, a local SMTP server and a local
HTTP receiver; real catalog changes through the API, and what arrives."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tests.dashboard.scenario import bearer, call, catalog_documents, organisation_documents, score, tokens_yaml
from tests.notifications.conftest import HOOK_SECRET, SMTP_LOGIN, HttpReceiver, SmtpServer, wait_for
from trellis.testing import RunningCollector

ADDRESSES = {"bob": "bob@example.com", "carol": "carol@example.com", "dave": "dave@example.com"}


def write_rules(
    path: Path, receiver: HttpReceiver, smtp: SmtpServer, rules: list[dict[str, Any]], max_attempts: int = 4
) -> Path:
    document = {
        "dashboard_url": "http://dashboard.example:8501",
        "retry": {"first_delay_seconds": 0.5, "max_attempts": max_attempts},
        "channels": {
            "hook": {"type": "webhook", "url": f"{receiver.url}/hook", "secret_env": "NOTIFY_HOOK_SECRET"},
            "chat": {"type": "slack", "url": f"{receiver.url}/slack"},
            "mail": {"type": "email", "host": "127.0.0.1", "port": smtp.port, "from": "trellis@example.com",
                     "to": ["platform@example.com"], "addresses": ADDRESSES},
        },
        "rules": rules,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def start(make_collector: Any, tmp_path: Path, rules: Path, *args: str) -> RunningCollector:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(tokens_yaml())
    return make_collector(
        "--tokens-file", str(tokens), "--notifications-file", str(rules), "--notifications-interval-seconds", "0.3",
        "--analytics-interval-seconds", "0", *args, headers=bearer("reader"),
    )  # fmt: skip


def listed(collector: RunningCollector) -> list[dict[str, Any]]:
    response = httpx.get(f"{collector.api}/api/v1/notifications", headers=bearer("reader"), timeout=10)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["notifications"]
    return rows


def fill_catalog(collector: RunningCollector) -> None:
    """The organisation and definitions, then the approval rule: a change after it needs an approval."""
    call(collector, "apply", "/api/v1/catalog/apply", {"documents": organisation_documents()})
    documents = catalog_documents()
    call(collector, "apply", "/api/v1/catalog/apply", {"documents": documents[2:]})
    call(collector, "apply", "/api/v1/catalog/apply", {"documents": documents[:2]})


def propose_redis(collector: RunningCollector) -> None:
    redis = catalog_documents()[4]
    redis["spec"]["params"]["memory_mb"] = 1024
    call(collector, "propose", "/api/v1/catalog/propose", {"document": redis, "base_version": 1})


@pytest.fixture
def rules_file(tmp_path: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer) -> Path:
    rules = [
        {"name": "approvals", "on": "approval.requested", "channels": ["mail", "hook"]},
        {"name": "redis-active", "on": "version.activated", "filter": {"definitions": ["redis-shared"]},
         "channels": ["chat"]},
    ]  # fmt: skip
    return write_rules(tmp_path / "notifications.yaml", http_receiver, smtp_server, rules)


def test_an_approval_request_reaches_the_approvers_and_a_failing_webhook_is_retried(
    make_collector: Any, tmp_path: Path, rules_file: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    http_receiver.fail_first["/hook"] = 1
    collector = start(make_collector, tmp_path, rules_file)
    fill_catalog(collector)
    propose_redis(collector)

    recipients, mail = wait_for(lambda: smtp_server.mailbox.messages, what="the approval e-mail")[0]
    assert sorted(recipients) == sorted(ADDRESSES.values())  # alice proposed: she is not asked
    assert mail["Subject"] == "redis-shared version 2 awaits approval"
    assert mail["From"] == "trellis@example.com"
    body = mail.get_payload(decode=True).decode()
    assert "needs 1 more from platform-admins" in body and "http://dashboard.example:8501/approvals" in body

    delivered = wait_for(lambda: http_receiver.at("/hook", 200), what="the webhook's retry")[0]
    assert len(http_receiver.at("/hook", 500)) == 1
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), delivered.body, hashlib.sha256).hexdigest()
    assert delivered.headers["X-Trellis-Signature"] == expected
    sent = orjson.loads(delivered.body)
    assert sent["event"] == "approval.requested" and sent["rule"] == "approvals"
    assert sent["data"]["definition"] == "redis-shared" and sent["data"]["version"] == 2
    assert sent["data"]["approvers"] == ["bob", "carol", "dave"]
    rows = {row["channel"]: row for row in listed(collector) if row["rule"] == "approvals"}
    assert rows["hook"]["status"] == "sent" and rows["hook"]["attempts"] == 2
    assert rows["hook"]["last_error"] is None and rows["mail"]["attempts"] == 1


def test_an_activation_reaches_slack_once_with_a_link_to_the_dashboard(
    make_collector: Any, tmp_path: Path, rules_file: Path, http_receiver: HttpReceiver
) -> None:
    collector = start(make_collector, tmp_path, rules_file)
    fill_catalog(collector)
    propose_redis(collector)
    call(collector, "approve", "/api/v1/catalog/approve", {"definition": "redis-shared", "version": 2}, user="bob")

    def activations() -> list[dict[str, Any]]:
        return [orjson.loads(r.body) for r in http_receiver.at("/slack", 200)]

    wait_for(lambda: len(activations()) >= 2, what="the two activations of redis-shared")
    texts = sorted(message["text"] for message in activations())
    assert texts == ["redis-shared version 1 is active", "redis-shared version 2 is active"]
    latest = next(m for m in activations() if m["text"].endswith("2 is active"))
    assert latest["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": latest["text"]}}
    button = latest["blocks"][-1]["elements"][0]
    assert button["url"] == "http://dashboard.example:8501/catalog"
    # more turns pass: nothing is sent again
    wait_for(lambda: len([r for r in listed(collector) if r["status"] == "sent"]) >= 2, what="two sent rows")
    seen = len(http_receiver.received)
    wait_for(lambda: all(r["status"] == "sent" for r in listed(collector)), what="every row sent")
    time.sleep(1.5)
    assert len(http_receiver.received) == seen


def test_a_denied_deployment_is_sent_for_the_rule_of_its_environment(
    make_collector: Any, tmp_path: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    rules = [
        {"name": "gate-prod", "on": "gate.denied", "filter": {"environments": ["production-eu"]}, "channels": ["hook"]},
        {"name": "gate-staging", "on": "gate.denied", "filter": {"environments": ["staging"]}, "channels": ["chat"]},
    ]  # fmt: skip
    collector = start(make_collector, tmp_path, write_rules(tmp_path / "n.yaml", http_receiver, smtp_server, rules))
    fill_catalog(collector)
    workload = score("shop-api", {"search": {"type": "postgres", "class": "large"}})  # nothing serves it
    body = {"workload": workload, "app": "shop", "env": "production-eu", "env_type": "production"}
    response = httpx.post(f"{collector.api}/api/v1/deployments/check", json=body, headers=bearer("alice"), timeout=60)
    assert response.status_code == 200 and response.json()["decision"] == "deny", response.text

    sent = wait_for(lambda: http_receiver.at("/hook", 200), what="the gate's webhook")
    data = orjson.loads(sent[0].body)
    assert data["subject"] == "Deployment of shop/production-eu/shop-api denied by the gate"
    assert data["data"]["reasons"] and data["data"]["asked_by"] == "alice"
    assert data["link"] == "http://dashboard.example:8501/catalog"
    time.sleep(1.0)
    assert http_receiver.at("/slack") == [] and len(http_receiver.at("/hook")) == 1


def test_an_e_mail_channel_logs_in_with_the_password_of_its_variable_which_is_stored_and_logged_nowhere(
    make_collector: Any, tmp_path: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer, monkeypatch: Any
) -> None:
    username, password = SMTP_LOGIN
    monkeypatch.setenv("NOTIFY_SMTP_PASSWORD", password)
    rules = [{"name": "redis-active", "on": "version.activated", "filter": {"definitions": ["redis-shared"]},
              "channels": ["mail"]}]  # fmt: skip
    path = write_rules(tmp_path / "n.yaml", http_receiver, smtp_server, rules)
    document = yaml.safe_load(path.read_text())
    document["channels"]["mail"].update(username=username, password_env="NOTIFY_SMTP_PASSWORD")
    path.write_text(yaml.safe_dump(document))
    collector = start(make_collector, tmp_path, path, "--log-level", "debug")
    fill_catalog(collector)

    recipients, mail = wait_for(lambda: smtp_server.mailbox.messages, what="the activation e-mail")[0]
    assert smtp_server.logins == [SMTP_LOGIN]
    assert recipients == ["platform@example.com"] and mail["Subject"] == "redis-shared version 1 is active"
    answer = httpx.post(f"{collector.api}/api/v1/query", json={"sql": "SELECT * FROM notifications"},
                        headers=bearer("reader"), timeout=30)  # fmt: skip
    assert answer.status_code == 200 and "redis-shared" in answer.text
    assert password not in answer.text and password not in collector.log()


def test_a_governed_change_of_an_approval_rule_asks_the_rules_group(
    make_collector: Any, tmp_path: Path, rules_file: Path, http_receiver: HttpReceiver
) -> None:
    collector = start(make_collector, tmp_path, rules_file)
    fill_catalog(collector)
    rule = catalog_documents()[0]
    rule["spec"]["approvals"] = 2
    call(collector, "apply", "/api/v1/catalog/apply", {"documents": [rule]})

    sent = orjson.loads(wait_for(lambda: http_receiver.at("/hook", 200), what="the change's webhook")[0].body)
    assert sent["subject"] == "ApprovalRule/production-changes version 1 awaits approval"
    assert sent["data"]["approvers"] == ["bob", "carol", "dave"]
    assert sent["data"]["missing"] == ["production-changes needs 1 more from platform-admins"]
