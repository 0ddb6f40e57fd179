"""The demo's GitHub and PagerDuty deliveries: what the connectors file covers, and what they replace.

That the collector accepts them, and what they make there, is ``test_demo``'s: it runs the demo."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trellis.collector import DEPLOYMENT_EVENT, INCIDENT_EVENT
from trellis.simulator.model import SAMPLE_DATA, SimulationError, load_organisation
from trellis.simulator.plan import DAY, NS, build_plan
from trellis.simulator.signals import history_signals
from trellis.simulator.webhooks import (
    DEMO_SECRETS,
    GITHUB_DEPLOYMENTS,
    PAGERDUTY_INCIDENTS,
    choose,
    read_routes,
)

END = int(datetime(2026, 11, 16, tzinfo=UTC).timestamp()) * NS


def test_the_connectors_file_maps_the_payments_team_with_public_secrets() -> None:
    routes = read_routes(SAMPLE_DATA)
    assert routes is not None
    payments = {w.key for w in load_organisation().team_workloads("payments")}
    assert set(routes.repositories) == payments
    assert set(routes.services) == {(key, env) for key in payments for env in ("production-eu", "production-us")}
    assert set(routes.secrets.values()) == set(DEMO_SECRETS.values())
    assert "LOCAL DEMO USE ONLY" in (SAMPLE_DATA / "connectors.yaml").read_text()


def test_a_secret_the_demo_does_not_set_is_an_error_naming_the_field(tmp_path: Path) -> None:
    data = tmp_path / "org"
    shutil.copytree(SAMPLE_DATA, data)
    text = (data / "connectors.yaml").read_text()
    (data / "connectors.yaml").write_text(text.replace("DEMO_PAGERDUTY_WEBHOOK_SECRET", "PAGERDUTY_SECRET"))
    with pytest.raises(SimulationError, match=r"connectors\.yaml: field pagerduty\.secret_env: the demo sets only"):
        read_routes(data)


def test_webhooks_take_the_place_of_the_otlp_events_under_the_receivers_ids() -> None:
    org = load_organisation()
    plan = build_plan(org, 7, END - 2 * DAY, END)
    routes = read_routes(SAMPLE_DATA)
    assert routes is not None
    choose(plan, routes)

    github = [d for d in plan.happened() if d.via == "github"]
    assert len(github) == GITHUB_DEPLOYMENTS
    assert {d.app for d in github} == {"payments"} and {d.env_type for d in github} == {"production"}
    assert all(d.id.startswith("github-deployment-") for d in github)
    paged = [i for i in plan.live_incidents() if i.via == "pagerduty"]
    assert 0 < len(paged) <= PAGERDUTY_INCIDENTS and all(i.id.startswith("pagerduty-") for i in paged)
    assert all(i.resolved is not None and i.resolved < plan.end for i in paged)  # live resolves none of them
    assert all(i.caused_by in {d.id for d in plan.happened()} for i in plan.live_incidents())

    _, logs = history_signals(plan)
    events = [(r.log_record.event_name, dict(r.log_record.attributes or {})) for r in logs]
    deployed = {a["deployment.id"] for name, a in events if name == DEPLOYMENT_EVENT}
    assert deployed == {d.id for d in plan.happened() if d.via is None}
    incidents = {a["incident.id"] for name, a in events if name == INCIDENT_EVENT}
    assert incidents == {i.id for i in plan.live_incidents() if i.via is None}
