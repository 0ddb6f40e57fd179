"""PagerDuty v3 webhooks, built from its documented payloads, through a running collector into incidents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.collector.webhooks.conftest import counts, deliveries, payload, rows, send_signed
from trellis.testing import RunningCollector

PAGERDUTY = {
    "workloads": [
        {"match": {"service": "API Service"}, "service_name": "api", "service_namespace": "core",
         "environment": "production"},
    ],
}  # fmt: skip


def fixture(name: str) -> dict[str, Any]:
    return payload("pagerduty-webhooks", name)


@pytest.fixture
def pagerduty(webhook_collector: Callable[[dict[str, Any]], RunningCollector]) -> RunningCollector:
    return webhook_collector({"pagerduty": PAGERDUTY})


def send(running: RunningCollector, document: dict[str, Any], signature: str = "v1={signature}") -> Any:
    return send_signed(running, "pagerduty", document, {"X-PagerDuty-Signature": signature})


def incidents(running: RunningCollector) -> list[dict[str, Any]]:
    return rows(running, "SELECT incident_id, service_name, service_namespace, environment, "
                         "strftime(opened_at, '%Y-%m-%dT%H:%M:%S') AS opened, "
                         "strftime(resolved_at, '%Y-%m-%dT%H:%M:%S') AS resolved FROM incidents")  # fmt: skip


def test_a_triggered_and_a_resolved_incident_make_one_incident_of_the_mapped_service(
    pagerduty: RunningCollector,
) -> None:
    assert send(pagerduty, fixture("incident.triggered.json")).json() == {"outcome": "accepted"}
    assert send(pagerduty, fixture("incident.resolved.json")).json() == {"outcome": "accepted"}

    assert incidents(pagerduty) == [{"incident_id": "pagerduty-PGR0VU2", "service_name": "api",
                                     "service_namespace": "core", "environment": "production",
                                     "opened": "2020-04-09T15:16:27", "resolved": "2020-04-09T16:01:02"}]  # fmt: skip
    assert [(d["delivery_id"], d["event"]) for d in deliveries(pagerduty)] == [
        ("01BZ0TRIGGERED0000000000000", "incident.triggered"),
        ("01BZ0RESOLVED00000000000000", "incident.resolved"),
    ]


def test_any_of_several_signatures_may_match_while_the_secret_rotates(pagerduty: RunningCollector) -> None:
    answer = send(pagerduty, fixture("incident.triggered.json"), "v1=" + "ab" * 32 + ", v1={signature}")

    assert answer.status_code == 200
    assert counts(pagerduty) == (0, 1, 1)


@pytest.mark.parametrize("signature", ["v1=" + "ab" * 32, "v0={signature}", ""], ids=["wrong", "old-version", "none"])
def test_a_delivery_without_a_matching_signature_is_refused_and_changes_nothing(
    pagerduty: RunningCollector, signature: str
) -> None:
    answer = send(pagerduty, fixture("incident.triggered.json"), signature)

    assert answer.status_code == 401
    assert answer.json()["outcome"] == "refused"
    assert "X-PagerDuty-Signature" in answer.json()["reason"]
    assert counts(pagerduty) == (0, 0, 0)


def test_an_event_that_neither_opens_nor_resolves_is_ignored(pagerduty: RunningCollector) -> None:
    answer = send(pagerduty, fixture("incident.priority_updated.json"))

    reason = "PagerDuty incident.priority_updated events neither open nor resolve an incident"
    assert answer.json() == {"outcome": "ignored", "reason": reason}
    assert counts(pagerduty) == (0, 0, 0)


def test_the_same_event_delivered_again_counts_once(pagerduty: RunningCollector) -> None:
    send(pagerduty, fixture("incident.triggered.json"))
    again = send(pagerduty, fixture("incident.triggered.json")).json()

    assert again["outcome"] == "ignored"
    assert counts(pagerduty) == (0, 1, 1)


def test_a_service_no_workload_matches_is_recorded_as_unmapped(pagerduty: RunningCollector) -> None:
    document = fixture("incident.triggered.json")
    document["event"]["data"]["service"]["summary"] = "Billing"

    answer = send(pagerduty, document).json()

    assert answer["outcome"] == "unmapped"
    assert answer["reason"] == (
        "no pagerduty.workloads entry of the connectors file matches service 'Billing', service_id 'PF9KMXH'"
    )
    assert counts(pagerduty) == (0, 0, 0)
