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

from tests.dashboard.scenario import _doc, bearer, call
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
