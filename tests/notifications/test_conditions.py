"""Conditions through a running collector: a source that goes silent notifies once while it stays silent,
the notice clears when it sends again, and it notifies again when it falls silent once more; pins that
expire within a rule's days_ahead."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.dashboard.scenario import _doc, bearer, call, catalog_documents, score
from tests.notifications.conftest import HttpReceiver, SmtpServer, wait_for
from tests.notifications.test_service import fill_catalog, listed, start, write_rules
from trellis.testing import RunningCollector, gauge_points, metrics_request


def send_point(collector: RunningCollector, service: str, at: datetime) -> None:
    ns = int(at.timestamp() * 1e9)
    body = metrics_request(gauge_points(1, ns), service_name=service)
    response = httpx.post(f"{collector.otlp_http}/v1/metrics", json=body, headers=bearer("ingester"), timeout=30)
    assert response.status_code == 200, response.text


def test_a_silent_source_notifies_once_while_silent_and_again_after_it_returned(
    make_collector: Any, tmp_path: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    rules = [{"name": "quiet", "on": "source.silent", "options": {"minutes": 0.1}, "filter": {"services": ["checkout"]},
              "channels": ["chat"]}]  # fmt: skip
    collector = start(make_collector, tmp_path, write_rules(tmp_path / "n.yaml", http_receiver, smtp_server, rules))
    send_point(collector, "checkout", datetime.now(UTC) - timedelta(minutes=1))
    send_point(collector, "search", datetime.now(UTC) - timedelta(minutes=1))  # not in the filter
    first = wait_for(lambda: http_receiver.at("/slack", 200), what="the silent source's message")
    assert orjson.loads(first[0].body)["text"] == "checkout has sent nothing for 0.1 minutes"
    time.sleep(1.5)  # turns pass while it stays silent: no repeat
    assert len(http_receiver.at("/slack")) == 1

    send_point(collector, "checkout", datetime.now(UTC))
    wait_for(lambda: any(r["cleared_at"] for r in listed(collector)), what="the notice's clearing")
    wait_for(lambda: len(http_receiver.at("/slack", 200)) == 2, what="the second silence's message")
    rows = [r for r in listed(collector) if r["rule"] == "quiet"]
    assert [r["key"] for r in rows] == ["service/checkout", "service/checkout"]
    assert sorted(r["cleared_at"] is None for r in rows) == [False, True]


def test_a_pin_expiring_within_days_ahead_notifies_and_a_later_one_does_not(
    make_collector: Any, tmp_path: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    rules = [{"name": "pins", "on": "pin.expiring", "options": {"days_ahead": 3}, "channels": ["hook"]}]
    collector = start(make_collector, tmp_path, write_rules(tmp_path / "n.yaml", http_receiver, smtp_server, rules))
    fill_catalog(collector)
    for pin_id, days in [("soon", 2), ("later", 10)]:
        expires = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        spec = {"app": "shop", "env": "staging", "workload": "shop-api", "resource": "db", "definition": "pg-dev",
                "version": 1, "reason": "load test", "owner": "team-shop", "expires": expires}  # fmt: skip
        call(collector, "apply", "/api/v1/catalog/apply", {"documents": [_doc("Pin", pin_id, spec)]})
    sent = wait_for(lambda: http_receiver.at("/hook", 200), what="the expiring pin's webhook")
    time.sleep(1.0)
    assert len(http_receiver.at("/hook")) == 1
    body = orjson.loads(sent[0].body)
    assert body["event"] == "pin.expiring" and body["data"]["pin"] == "soon"
    assert body["subject"].startswith("Pin soon of shop/staging/shop-api expires ")
    assert body["link"] == "http://dashboard.example:8501/rollouts"


def test_a_consumer_left_on_a_replaced_version_is_late_and_behind(
    make_collector: Any, tmp_path: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer
) -> None:
    staging = {"environments": ["staging"]}
    rules = [
        {"name": "late", "on": "consumer.deadline_passed", "filter": staging, "channels": ["hook"]},
        {"name": "behind", "on": "consumer.behind", "options": {"days": 0.00001}, "channels": ["chat"]},
    ]  # fmt: skip
    collector = start(
        make_collector, tmp_path, write_rules(tmp_path / "n.yaml", http_receiver, smtp_server, rules),
        "--deprecation-days", "0", "--housekeeping-seconds", "0.5",
    )  # fmt: skip
    fill_catalog(collector)
    body = {"workload": score("shop-api", {"db": {"type": "postgres"}}), "app": "shop", "env": "staging"}
    call(collector, "resolve", "/api/v1/resolve", body)
    pg_dev = catalog_documents()[3]
    pg_dev["spec"]["params"]["size"] = "medium"
    call(collector, "propose", "/api/v1/catalog/propose", {"document": pg_dev, "base_version": 1})

    late = orjson.loads(wait_for(lambda: http_receiver.at("/hook", 200), what="the deadline's webhook")[0].body)
    assert late["event"] == "consumer.deadline_passed"
    assert late["subject"] == "shop/staging/shop-api still uses pg-dev version 1 past its deadline"
    assert {k: late["data"][k] for k in ("definition", "version", "resource")} == {
        "definition": "pg-dev", "version": 1, "resource": "db"
    }  # fmt: skip
    behind = orjson.loads(wait_for(lambda: http_receiver.at("/slack", 200), what="the lag's message")[0].body)
    assert behind["text"].startswith("shop/staging/shop-api.db runs pg-dev version 1, ")
    assert behind["text"].endswith(" days behind version 2")
    time.sleep(1.5)
    assert len(http_receiver.at("/hook")) == 1 and len(http_receiver.at("/slack")) == 1


def test_a_webhook_source_whose_deliveries_are_refused_or_left_unmapped_notifies(
    make_collector: Any, tmp_path: Path, http_receiver: HttpReceiver, smtp_server: SmtpServer, monkeypatch: Any
) -> None:
    import yaml

    from tests.collector.webhooks.conftest import SECRETS, payload, secret_env, send_github
    from tests.collector.webhooks.test_github import GITHUB

    monkeypatch.setenv(secret_env("github"), SECRETS["github"])
    connectors = tmp_path / "connectors.yaml"
    connectors.write_text(yaml.safe_dump({"github": {"secret_env": secret_env("github"), **GITHUB}}))
    rules = [{"name": "hooks", "on": "webhook.failing", "options": {"minutes": 10, "share": 0.6}, "channels": ["chat"]}]
    rules_file = write_rules(tmp_path / "n.yaml", http_receiver, smtp_server, rules)
    collector = start(make_collector, tmp_path, rules_file, "--connectors-file", str(connectors))
    deployment = payload("github-webhooks", "deployment_status.json")
    assert send_github(collector, "deployment_status", deployment).json() == {"outcome": "accepted"}
    time.sleep(1.0)  # one of one accepted: nothing to say
    assert http_receiver.at("/slack") == []
    deployment["repository"]["full_name"] = "someone/else"
    assert send_github(collector, "deployment_status", deployment).json()["outcome"] == "unmapped"
    time.sleep(1.0)  # one of two failed: below the share
    assert http_receiver.at("/slack") == []
    assert send_github(collector, "deployment_status", deployment, signature="sha256=00").status_code == 401

    sent = orjson.loads(wait_for(lambda: http_receiver.at("/slack", 200), what="the failing source's message")[0].body)
    assert sent["text"] == "github webhooks: 1 unmapped and 1 refused of 3 deliveries in 10 minutes"
    assert "someone/else" in sent["blocks"][1]["text"]["text"]
