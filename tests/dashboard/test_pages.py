"""Every page in Streamlit's AppTest against a collector with data, with no data, and on a file read-only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard import scenario
from tests.dashboard.apptest import frames, metric, open_app, page, problems, texts
from tests.dashboard.conftest import PAGES
from trellis.testing import RunningCollector

Platform = tuple[RunningCollector, scenario.Scenario]
ALICE = scenario.TOKENS["alice"][0]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_runs_without_an_error(platform: Platform, monkeypatch: Any, name: str) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), name)
    assert problems(at) == []
    assert at.title, f"{name} has no title"


def test_overview_shows_the_key_numbers(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = open_app(monkeypatch, collector.api, ALICE)
    assert problems(at) == []
    assert int(metric(at, "Deployments in the range's last 7 days").replace(",", "")) > 0
    assert metric(at, "DORA deployment frequency (the range)") in ("elite", "high", "medium", "low")
    assert metric(at, "Pending approvals (platform-wide)") == "1"  # the redis change waiting for bob
    assert metric(at, "Active definitions (platform-wide)").endswith(f"of {4 + 15}")  # four managed, fifteen imported
    assert metric(at, "Consumers on the active version").endswith("%")
    assert "Latest deployments" in texts(at)
    assert "signed in as **alice**" in "\n".join(str(m.value) for m in at.sidebar.markdown)


def test_delivery_shows_bands_and_what_is_behind_them(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), "delivery")
    shown = texts(at)
    assert "Over time" in shown and "For the period" in shown
    bands, deployments, incidents = frames(at)
    assert set(bands["frequency"].dropna()) <= {"🟢 elite", "🔵 high", "🟡 medium", "🔴 low"}
    assert len(deployments) > 0 and {"team", "workload", "status", "lead_time_h"} <= set(deployments.columns)
    assert {"opened_at", "hours_to_resolve"} <= set(incidents.columns)
    at.segmented_control(key="dora_level").set_value("workload").run()
    assert problems(at) == []
    assert any("/" in group for group in frames(at)[0]["group"])


def test_resource_usage_shows_adoption_demand_utilization_and_cost(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), "resources")
    assert problems(at) == []
    assert metric(at, "Containers") == "12"
    assert metric(at, "Total cost (USD)") != "0.00"
    tables = frames(at)
    adoption = tables[0]
    assert {"pg-prod", "pg-dev", "redis-shared"} <= set(adoption["definition_id"])
    misses = next(t for t in tables if "last_miss_reason" in t.columns)
    assert (misses["class"] == "large").all()  # nothing serves the 'large' postgres some workloads ask for
    advice = next(t for t in tables if "advice" in t.columns)
    assert advice["advice"].str.contains("shrink|grow|right-sized").all()


def test_catalog_lists_definitions_rules_and_explains(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), "catalog")
    definitions = frames(at)[0]
    assert {"pg-prod", "pg-dev", "redis-shared", "bucket-default"} <= set(definitions["definition"])
    assert definitions.loc[definitions["definition"] == "pg-dev", "active"].item() == 2
    rules = next(t for t in frames(at) if "env_type" in t.columns and "definition" in t.columns)
    assert "production" in set(rules["env_type"].dropna())
    at.selectbox(key="explain_pick").set_value(at.selectbox(key="explain_pick").options[1]).run()
    next(b for b in at.button if b.label == "Explain").click().run()
    assert problems(at) == []
    assert "serves it, by the rule" in texts(at)


def test_rollouts_show_convergence_and_pins(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), "rollouts")
    assert problems(at) == []
    assert "Pins (1)" in texts(at)
    summary = frames(at)[0]
    assert {"pg-dev", "pg-prod"} <= set(summary["definition"])
    at.selectbox(key="rollout_definition").set_value("pg-dev").run()
    assert metric(at, "Active version") == "2"
    assert "behind the active version" in texts(at)


def test_approvals_list_the_pending_change_and_the_audit_log(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), "approvals")
    shown = texts(at)
    assert "Pending approvals (1)" in shown and "redis-shared" in "\n".join(e.label for e in at.expander)
    approve = next(b for b in at.button if b.key == "approve_redis-shared_2")
    assert approve.disabled  # alice proposed it (and has no approve scope)
    audit = frames(at)[-1]
    assert {"propose", "activate", "approve"} & set(audit["action"]) and len(audit) > 10
    at.button(key="audit_verify").click().run()
    assert "The chain holds" in texts(at)
    at.multiselect(key="audit_action").set_value(["propose"]).run()
    assert set(frames(at)[-1]["action"]) == {"propose"}


def test_approvals_filter_what_waits_for_me_and_link_to_the_definition(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    bob = page(open_app(monkeypatch, collector.api, scenario.TOKENS["bob"][0]), "approvals")
    bob.toggle(key="approvals_mine").set_value(True).run()
    alice = page(open_app(monkeypatch, collector.api, ALICE), "approvals")
    alice.toggle(key="approvals_mine").set_value(True).run()

    assert problems(bob) == [] and problems(alice) == []
    assert "redis-shared" in "\n".join(e.label for e in bob.expander), "bob can approve it"
    assert "Who can approve: bob" in texts(bob)
    assert not [e for e in alice.expander if "redis-shared" in e.label], "alice proposed it"
    assert "Nothing waits for alice." in texts(alice)
    links = [(link.proto.label, link.proto.page, link.proto.query_string) for link in bob.get("page_link")]
    assert links == [
        ("The definition", "catalog", "definition=redis-shared"),
        ("Its rollout", "rollouts", "definition=redis-shared"),
    ]


@pytest.mark.parametrize(("name", "key"), [("rollouts", "rollout_definition"), ("catalog", "browse_definition")])
def test_a_link_with_a_definition_opens_the_page_on_it(
    platform: Platform, monkeypatch: Any, name: str, key: str
) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), name)
    options = at.selectbox(key=key).options
    at.query_params["definition"] = options[-1]
    at.run()

    assert len(options) > 1 and at.selectbox(key=key).value == options[-1]


def test_legacy_shows_imported_definitions_and_previews_an_import(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), "legacy")
    assert problems(at) == []
    assert "Legacy definitions (15)" in texts(at)
    assert "Legacy share of consumers" in [m.label for m in at.metric]


def test_explore_runs_sql_and_browses_metrics(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), "explore")
    assert problems(at) == []
    assert any("container.cpu.usage" in option for option in at.selectbox(key="explore_metric").options)
    at.text_area(key="explore_sql").input("SELECT status, count(*) AS n FROM deployments GROUP BY ALL ORDER BY 1")
    next(b for b in at.button if b.label == "Run").click().run()
    assert problems(at) == []
    result = frames(at)[-1]
    assert set(result["status"]) <= {"succeeded", "failed"} and result["n"].sum() > 0
    at.text_area(key="explore_sql").input("DELETE FROM deployments")
    next(b for b in at.button if b.label == "Run").click().run()
    assert [e.value for e in at.error] and "not allowed" in at.error[0].value  # one readable message
    assert not at.exception


def test_filters_live_in_the_url_and_narrow_every_page(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = open_app(monkeypatch, collector.api, ALICE)
    at.multiselect(key="f_team").set_value(["shop"]).run()
    at.selectbox(key="f_range").set_value("7d").run()
    assert at.query_params["team"] == "shop" and at.query_params["range"] == "7d"
    at = page(at, "delivery")
    assert set(frames(at)[1]["team"]) == {"shop"}
    assert at.query_params["team"] == "shop"


def test_the_url_sets_the_filters(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    monkeypatch.setenv("TRELLIS_API", collector.api)
    monkeypatch.setenv("TRELLIS_TOKEN", ALICE)
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update({"from": "2026-01-01", "to": "2026-01-31", "env": "staging"})
    at.run()
    assert at.selectbox(key="f_range").value == "custom"
    assert at.multiselect(key="f_env").value == ["staging"]
    assert "2026-01-01 to 2026-01-31" in texts(at)


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_an_empty_state(empty_collector: RunningCollector, monkeypatch: Any, name: str) -> None:
    at = page(open_app(monkeypatch, empty_collector.api), name)
    assert problems(at) == []
    shown = texts(at)
    if name in ("overview", "delivery", "explore"):
        assert "trellis emit deployment" in shown and "OTEL_EXPORTER_OTLP_ENDPOINT" in shown
    else:
        assert at.info or at.success, f"{name} says nothing when there is no data"


def test_reading_a_file_read_only_turns_editing_off(tmp_path: Any, monkeypatch: Any) -> None:
    from tests.dashboard.conftest import start_platform

    collector, _ = start_platform(tmp_path / "offline", days=7, workloads=4)
    collector.stop()
    dead = "http://127.0.0.1:9"  # nothing listens there
    at = open_app(monkeypatch, dead, db=str(collector.db))
    assert problems(at) == []
    assert "read-only" in "\n".join(str(w.value) for w in at.sidebar.warning)
    for name in PAGES:
        at = page(at, name)
        assert problems(at) == [], name
    at = page(at, "catalog")
    assert "editing is off" in texts(at)
    assert {"pg-prod", "pg-dev"} <= set(frames(at)[0]["definition"])


def test_without_a_collector_or_a_file_it_says_how_to_start_one(monkeypatch: Any) -> None:
    at = open_app(monkeypatch, "http://127.0.0.1:9")
    assert not at.exception
    assert "no collector answers at http://127.0.0.1:9" in at.error[0].value
    assert "trellis serve" in at.error[0].value


def test_without_a_token_it_asks_to_sign_in_and_a_token_signs_in(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = open_app(monkeypatch, collector.api)
    assert not at.exception and not at.metric
    assert "Sign in" in texts(at)
    at.sidebar.text_input(key="token_input").input("not-a-token")
    at.sidebar.button[0].click().run()
    assert "not valid" in "\n".join(str(e.value) for e in at.sidebar.error)
    at.sidebar.text_input(key="token_input").input(scenario.TOKENS["reader"][0])
    at.sidebar.button[0].click().run()
    assert "signed in as **reader**" in "\n".join(str(m.value) for m in at.sidebar.markdown)
    assert problems(at) == [] and at.metric
    at = page(at, "catalog")
    assert "sign in with a token that has the `propose` scope" in texts(at)  # reader cannot edit
    at.selectbox(key="f_range").set_value("7d").run()
    at.sidebar.button(key="sign_out").click().run()
    assert "Sign in" in texts(at) and not at.metric
    at.sidebar.text_input(key="token_input").input(scenario.TOKENS["reader"][0])
    at.sidebar.button[0].click().run()
    assert at.selectbox(key="f_range").value == "7d"  # signing out and in again keeps the filters


def test_reports_are_generated_and_downloaded(platform: Platform, monkeypatch: Any) -> None:
    collector, _ = platform
    at = page(open_app(monkeypatch, collector.api, ALICE), "reports")
    assert problems(at) == []
    assert "trellis report --from" in texts(at)
    at.selectbox(key="report_format").set_value("html")
    at.multiselect(key="report_teams").set_value(["shop"])
    next(b for b in at.button if b.label == "Generate").click().run()
    assert problems(at) == []
    [download] = [d for d in at.get("download_button")]
    assert "trellis-report-" in str(download.proto.label) and ".html" in str(download.proto.label)


def test_connectors_show_what_each_source_sent_and_why_deliveries_were_not_counted(
    make_collector: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    import yaml

    from tests.collector.webhooks.conftest import SECRETS, payload, secret_env, send_github
    from tests.collector.webhooks.test_github import GITHUB

    monkeypatch.setenv(secret_env("github"), SECRETS["github"])
    connectors = tmp_path / "connectors.yaml"
    connectors.write_text(yaml.safe_dump({"github": {"secret_env": secret_env("github"), **GITHUB}}))
    collector = make_collector("--connectors-file", str(connectors))
    deployment = payload("github-webhooks", "deployment_status.json")
    assert send_github(collector, "deployment_status", deployment).json() == {"outcome": "accepted"}
    deployment["repository"]["full_name"] = "someone/else"
    assert send_github(collector, "deployment_status", deployment).json()["outcome"] == "unmapped"
    assert send_github(collector, "deployment_status", deployment, signature="").status_code == 401

    at = page(open_app(monkeypatch, collector.api), "connectors")
    assert problems(at) == []
    sources = frames(at)[0]
    assert sources[["source", "accepted", "unmapped", "refused since start"]].values.tolist() == [["github", 1, 1, 1]]
    assert "the X-Hub-Signature-256 header is missing" in "\n".join(str(w.value) for w in at.warning)
    assert "someone/else" in "\n".join(frames(at)[1]["reason"]), "the unmapped delivery's reason is listed"


def test_connectors_show_the_notifications_sent_and_why_one_failed(
    make_collector: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    import httpx
    import yaml

    from trellis.testing import free_port, gauge_points, metrics_request

    nowhere = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every attempt fails
    rule = {"name": "quiet", "on": "source.silent", "options": {"minutes": 5}, "channels": ["hook"]}
    rules = {"retry": {"max_attempts": 1}, "channels": {"hook": {"type": "webhook", "url": nowhere}}, "rules": [rule]}
    (tmp_path / "n.yaml").write_text(yaml.safe_dump(rules))
    collector = make_collector(
        "--notifications-file", str(tmp_path / "n.yaml"), "--notifications-interval-seconds", "0.3"
    )
    old = int((datetime.now(UTC) - timedelta(minutes=10)).timestamp() * 1e9)
    body = metrics_request(gauge_points(1, old), service_name="checkout")
    assert httpx.post(f"{collector.otlp_http}/v1/metrics", json=body, timeout=30).status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = httpx.get(f"{collector.api}/api/v1/notifications", timeout=10).json()["notifications"]
        if listed and listed[0]["status"] == "failed":
            break
        time.sleep(0.2)

    at = page(open_app(monkeypatch, collector.api), "connectors")
    assert problems(at) == []
    shown = frames(at)[-1]
    assert shown[["rule", "subject", "channel", "status", "attempts"]].values.tolist() == [
        ["quiet", "checkout has sent nothing for 5 minutes", "hook", "failed", 1]
    ]
    assert "ConnectError" in shown["last_error"][0] and nowhere not in shown["last_error"][0]
    assert "1 of the latest notifications failed" in "\n".join(str(w.value) for w in at.warning)
