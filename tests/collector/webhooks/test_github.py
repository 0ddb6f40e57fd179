"""GitHub's own payloads, signed and unsigned, through a running collector into deployments and incidents."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.collector.webhooks.conftest import (
    SECRETS,
    counts,
    deliveries,
    github_signature,
    only_deployment,
    payload,
    post,
    rows,
    send_github,
)
from trellis.testing import RunningCollector

GITHUB = {
    "incident_label": "bug",
    "deploy_workflows": [{"workflow": ".github/workflows/test.yml", "environment": "staging"}],
    "workloads": [
        {"match": {"repository": "Codertocat/Hello-World"}, "service_name": "hello-world",
         "service_namespace": "octo", "environment": "production"},
        {"match": {"repository": "octo-org/*"}, "service_name": "octo-repo", "service_namespace": "octo"},
    ],
}  # fmt: skip
Start = Callable[[dict[str, Any]], RunningCollector]


def fixture(name: str) -> dict[str, Any]:
    return payload("github-webhooks", name)


@pytest.fixture
def github(webhook_collector: Start) -> RunningCollector:
    return webhook_collector({"github": GITHUB})


def test_a_successful_deployment_status_is_a_deployment_of_the_mapped_workload(github: RunningCollector) -> None:
    answer = send_github(github, "deployment_status", fixture("deployment_status.json"), delivery="d-1")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outcome": "accepted"}
    row = only_deployment(github)
    assert row["deployment_id"] == "github-deployment-145988746"
    assert (row["status"], row["environment"], row["finished"]) == ("succeeded", "production", "2019-05-15T15:20:55Z")
    assert (row["service_name"], row["service_namespace"]) == ("hello-world", "octo")
    assert row["vcs_revision"] == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert row["vcs_repository"] == "https://github.com/Codertocat/Hello-World"
    events = rows(github, "SELECT event_name, scope_name FROM otel_logs")
    assert events == [{"event_name": "trellis.deployment", "scope_name": "trellis.webhooks.github"}]
    assert deliveries(github) == [{"source": "github", "delivery_id": "d-1", "event": "deployment_status.created",
                                   "outcome": "accepted", "reason": None, "records": 1}]  # fmt: skip


@pytest.mark.parametrize(("state", "status"), [("failure", "failed"), ("error", "failed")])
def test_a_failed_deployment_status_is_a_failed_deployment(github: RunningCollector, state: str, status: str) -> None:
    document = fixture("deployment_status.json")
    document["deployment_status"]["state"] = state

    assert send_github(github, "deployment_status", document).status_code == 200
    assert only_deployment(github)["status"] == status


def test_a_status_that_is_not_final_is_ignored_with_its_reason(github: RunningCollector) -> None:
    document = fixture("deployment_status.json")
    document["deployment_status"]["state"] = "in_progress"

    assert send_github(github, "deployment_status", document).json()["outcome"] == "ignored"
    assert counts(github) == (0, 0, 0)
    assert "'in_progress' is not final" in deliveries(github)[0]["reason"]


def test_a_redelivery_counts_once_and_a_new_status_updates_the_same_deployment(github: RunningCollector) -> None:
    document = fixture("deployment_status.json")
    assert send_github(github, "deployment_status", document, delivery="same").json()["outcome"] == "accepted"

    again = send_github(github, "deployment_status", document, delivery="same")
    assert again.status_code == 200
    assert again.json() == {"outcome": "ignored", "reason": "delivery same was accepted already; it counts once"}
    assert counts(github) == (1, 0, 1)

    document["deployment_status"]["state"] = "failure"
    document["deployment_status"]["updated_at"] = "2019-05-15T15:30:00Z"
    assert send_github(github, "deployment_status", document, delivery="later").json()["outcome"] == "accepted"
    assert counts(github)[0] == 1
    row = only_deployment(github)
    assert (row["status"], row["finished"]) == ("failed", "2019-05-15T15:30:00Z")


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("", "the X-Hub-Signature-256 header is missing"),
        ("sha256=" + "0" * 64, "the X-Hub-Signature-256 signature does not match the body signed with the secret"),
    ],
    ids=["unsigned", "wrongly-signed"],
)
def test_a_delivery_without_the_right_signature_is_refused_and_changes_nothing(
    github: RunningCollector, signature: str, reason: str
) -> None:
    answer = send_github(github, "deployment_status", fixture("deployment_status.json"), "d-x", signature)

    assert answer.status_code == 401
    assert answer.json() == {"outcome": "refused", "reason": reason}
    assert counts(github) == (0, 0, 0)
    assert deliveries(github) == [], "a sender without the secret stores nothing"
    summary = httpx.get(f"{github.api}/api/v1/webhooks", timeout=30).json()["sources"]
    assert [(s["source"], s["refused"], s["last_refused_reason"], s["accepted"]) for s in summary] == [
        ("github", 1, reason, 0)
    ]


def test_the_secret_appears_in_no_table_and_no_log(github: RunningCollector) -> None:
    send_github(github, "deployment_status", fixture("deployment_status.json"))
    send_github(github, "deployment_status", fixture("deployment_status.json"), signature="sha256=nope")

    tables = rows(github, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'")
    for table in (t["table_name"] for t in tables):
        text = rows(github, f"SELECT CAST(list(t) AS VARCHAR) AS v FROM {table} AS t")[0]["v"] or ""
        assert SECRETS["github"] not in text, table
    assert SECRETS["github"] not in github.log()


def test_a_repository_no_workload_matches_is_recorded_as_unmapped(github: RunningCollector) -> None:
    document = fixture("deployment_status.json")
    document["repository"]["full_name"] = "someone/else"

    answer = send_github(github, "deployment_status", document)

    assert answer.status_code == 200
    reason = (
        "no github.workloads entry of the connectors file matches repository 'someone/else', environment 'production'"
    )
    assert answer.json() == {"outcome": "unmapped", "reason": reason}
    assert counts(github) == (0, 0, 0)
    assert [(d["outcome"], d["reason"]) for d in deliveries(github)] == [("unmapped", reason)]


def test_a_signed_body_that_is_not_json_is_refused_with_400(github: RunningCollector) -> None:
    body = b'{"action": "created",'
    headers = {"X-GitHub-Event": "deployment_status", "X-Hub-Signature-256": github_signature(body)}
    answer = httpx.post(f"{github.api}/api/v1/webhooks/github", content=body, headers=headers, timeout=30)

    assert answer.status_code == 400
    assert answer.json()["reason"].startswith("the body is not valid JSON: ")
    assert deliveries(github) == []


def test_an_unknown_or_unconfigured_source_is_not_found(webhook_collector: Start) -> None:
    running = webhook_collector({})
    unknown = httpx.post(f"{running.api}/api/v1/webhooks/jenkins", content=b"{}", timeout=30)
    assert unknown.status_code == 404
    assert unknown.json()["error"].startswith("there is no webhook receiver for 'jenkins'; there are ")
    unconfigured = send_github(running, "deployment_status", fixture("deployment_status.json"))
    assert unconfigured.status_code == 404
    assert "add a github section to the connectors file" in unconfigured.json()["error"]
    assert deliveries(running) == []


def test_a_body_over_the_api_limit_is_refused_with_413(github: RunningCollector) -> None:
    running = github
    body = b"{" + b" " * (17 * 1024 * 1024) + b"}"
    answer = httpx.post(f"{running.api}/api/v1/webhooks/github", content=body, timeout=60)
    assert answer.status_code == 413
    assert counts(running) == (0, 0, 0)


def test_a_completed_deploy_workflow_run_is_a_deployment_led_by_its_head_commit(github: RunningCollector) -> None:
    answer = send_github(github, "workflow_run", fixture("workflow_run.completed.json"))

    assert answer.json() == {"outcome": "accepted"}
    row = only_deployment(github)
    assert (row["deployment_id"], row["status"], row["environment"]) == ("github-run-289782451", "succeeded", "staging")
    assert (row["service_name"], row["pipeline_name"], row["pipeline_run_id"]) == ("octo-repo", "test", "289782451")
    assert (row["finished"], row["first_commit"]) == ("2020-10-05T16:33:49Z", "2020-10-05T16:32:07Z")


def test_a_workflow_that_does_not_deploy_is_ignored(webhook_collector: Start) -> None:
    workflows = [{"workflow": "release", "environment": "production"}]
    running = webhook_collector({"github": {**GITHUB, "deploy_workflows": workflows}})

    answer = send_github(running, "workflow_run", fixture("workflow_run.completed.json"))

    assert answer.json() == {"outcome": "ignored", "reason": "workflow 'test' is not one of github.deploy_workflows"}
    assert counts(running) == (0, 0, 0)


def test_an_issue_with_the_incident_label_opens_and_closes_an_incident(github: RunningCollector) -> None:
    assert send_github(github, "issues", fixture("issues.opened.json")).json() == {"outcome": "accepted"}
    assert send_github(github, "issues", fixture("issues.labeled.json")).json() == {"outcome": "accepted"}
    closed = fixture("issues.opened.json")
    closed["action"], closed["issue"]["closed_at"] = "closed", "2019-05-15T16:50:18Z"
    assert send_github(github, "issues", closed).json() == {"outcome": "accepted"}

    found = rows(github, "SELECT incident_id, service_name, environment, strftime(opened_at, '%H:%M') AS opened, "
                         "strftime(resolved_at, '%H:%M') AS resolved FROM incidents")  # fmt: skip
    assert found == [{"incident_id": "github-issue-Codertocat/Hello-World#1", "service_name": "hello-world",
                      "environment": "production", "opened": "15:20", "resolved": "16:50"}]  # fmt: skip


def test_an_issue_without_the_incident_label_is_ignored(webhook_collector: Start) -> None:
    running = webhook_collector({"github": {**GITHUB, "incident_label": "incident"}})

    answer = send_github(running, "issues", fixture("issues.opened.json"))

    reason = "the issue has no 'incident' label (github.incident_label)"
    assert answer.json() == {"outcome": "ignored", "reason": reason}
    assert counts(running) == (0, 0, 0)


def test_a_push_without_commits_and_an_unmerged_pull_request_change_nothing(github: RunningCollector) -> None:
    assert send_github(github, "push", fixture("push.json")).json()["reason"] == "the push brings no commits"
    closed = send_github(github, "pull_request", fixture("pull_request.closed.json")).json()
    assert closed == {"outcome": "ignored", "reason": "only merged pull requests are changes"}
    nameless = post(github, "github", b"{}", {"X-Hub-Signature-256": github_signature(b"{}")}).json()
    assert nameless == {"outcome": "ignored", "reason": "the delivery names no event (X-GitHub-Event)"}
    assert rows(github, "SELECT count(*) AS n FROM webhook_changes") == [{"n": 0}]


def test_a_merged_pull_request_gives_the_deployment_of_its_merge_commit_a_lead_time(github: RunningCollector) -> None:
    merged = fixture("pull_request.closed.json")
    deployed = fixture("deployment_status.json")
    merged["pull_request"]["merged"] = True
    merged["pull_request"]["merge_commit_sha"] = deployed["deployment"]["sha"]

    assert send_github(github, "pull_request", merged).json() == {"outcome": "accepted"}
    assert send_github(github, "deployment_status", deployed).json() == {"outcome": "accepted"}

    assert only_deployment(github)["first_commit"] == "2019-05-15T15:20:33Z"
    dora = httpx.post(f"{github.api}/api/v1/analytics/dora", json={"from": "2019-05-13", "to": "2019-05-20"},
                      timeout=60).json()  # fmt: skip
    names = [c["name"] for c in dora["columns"]]
    figures = [dict(zip(names, row, strict=True)) for row in dora["rows"]]
    workload = next(f for f in figures if f["level"] == "workload" and f["bucket"] != "week")
    assert (workload["service_name"], workload["deployments"], workload["lead_time_changes"]) == ("hello-world", 1, 1)
    assert workload["lead_time_median_hours"] == pytest.approx(22 / 3600)


def test_the_same_delivery_sent_many_times_at_once_counts_once(github: RunningCollector) -> None:
    document = fixture("deployment_status.json")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: send_github(github, "deployment_status", document, "at-once"), range(8)))

    assert sorted(a.json()["outcome"] for a in answers) == ["accepted"] + ["ignored"] * 7
    assert counts(github) == (1, 0, 1)
