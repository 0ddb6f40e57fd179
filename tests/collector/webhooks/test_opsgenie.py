"""Opsgenie alert actions, built from its documented alert action data, through a running collector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.collector.webhooks.conftest import SECRETS, counts, payload, rows, send_signed
from trellis.testing import RunningCollector

OPSGENIE = {
    "header": "X-Opsgenie-Token",
    "workloads": [{"match": {"integration": "Integration1"}, "service_name": "web", "environment": "production"}],
}


def fixture(name: str) -> dict[str, Any]:
    return payload("opsgenie-webhooks", name)


@pytest.fixture
def opsgenie(webhook_collector: Callable[[dict[str, Any]], RunningCollector]) -> RunningCollector:
    return webhook_collector({"opsgenie": OPSGENIE})


def send(running: RunningCollector, document: dict[str, Any], token: str = SECRETS["opsgenie"]) -> Any:
    return send_signed(running, "opsgenie", document, {"X-Opsgenie-Token": token})


def test_a_created_and_a_closed_alert_make_one_resolved_incident(opsgenie: RunningCollector) -> None:
    assert send(opsgenie, fixture("alert.create.json")).json() == {"outcome": "accepted"}
    assert send(opsgenie, fixture("alert.close.json")).json() == {"outcome": "accepted"}

    found = rows(opsgenie, "SELECT incident_id, service_name, environment, "
                           "strftime(opened_at, '%Y-%m-%dT%H:%M:%S.%g') AS opened, "
                           "strftime(resolved_at, '%Y-%m-%dT%H:%M:%S.%g') AS resolved FROM incidents")  # fmt: skip
    assert found == [{"incident_id": "opsgenie-052652ac-5d1c-464a-812a-7dd18bbfba8c", "service_name": "web",
                      "environment": "production", "opened": "2015-01-05T10:03:11.104",
                      "resolved": "2015-01-05T10:03:44.764"}]  # fmt: skip


@pytest.mark.parametrize("token", ["not-the-secret", ""], ids=["wrong", "none"])
def test_a_delivery_without_the_token_is_refused_and_changes_nothing(opsgenie: RunningCollector, token: str) -> None:
    answer = send(opsgenie, fixture("alert.create.json"), token)

    assert answer.status_code == 401
    assert answer.json()["outcome"] == "refused"
    assert "X-Opsgenie-Token" in answer.json()["reason"]
    assert counts(opsgenie) == (0, 0, 0)


def test_an_acknowledged_alert_is_ignored_and_a_resent_action_counts_once(opsgenie: RunningCollector) -> None:
    assert send(opsgenie, fixture("alert.acknowledge.json")).json()["outcome"] == "ignored"
    send(opsgenie, fixture("alert.create.json"))
    assert send(opsgenie, fixture("alert.create.json")).json()["outcome"] == "ignored"

    assert counts(opsgenie) == (0, 1, 1)
