"""GitLab's documented payloads through a running collector: deployments, deploy pipelines and pushes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.collector.webhooks.conftest import (
    SECRETS,
    counts,
    deliveries,
    only_deployment,
    payload,
    rows,
    send_signed,
)
from trellis.testing import RunningCollector

GITLAB = {
    "deploy_pipelines": [{"ref": "main", "environment": "production"}, {"ref": "mas*", "environment": "production"}],
    "workloads": [
        {"match": {"project": "root/test-deployment-webhooks"}, "service_name": "hooks", "service_namespace": "qa"},
        {"match": {"project": "gitlab-org/*"}, "service_name": "gitlab-test", "service_namespace": "qa"},
        {"match": {"project": "mike/diaspora"}, "service_name": "diaspora"},
    ],
}
EVENTS = {"deployment": "Deployment Hook", "pipeline": "Pipeline Hook", "push": "Push Hook"}


def fixture(name: str) -> dict[str, Any]:
    return payload("gitlab-webhooks", f"{name}.json")


@pytest.fixture
def gitlab(webhook_collector: Callable[[dict[str, Any]], RunningCollector]) -> RunningCollector:
    return webhook_collector({"gitlab": GITLAB})


def send(running: RunningCollector, name: str, document: dict[str, Any] | None = None, **headers: str) -> Any:
    sent = {"X-Gitlab-Event": EVENTS[name], "X-Gitlab-Token": SECRETS["gitlab"], **headers}
    return send_signed(running, "gitlab", document or fixture(name), sent)


def test_a_successful_deployment_event_is_a_deployment(gitlab: RunningCollector) -> None:
    assert send(gitlab, "deployment", **{"Idempotency-Key": "k-1"}).json() == {"outcome": "accepted"}

    row = only_deployment(gitlab)
    assert (row["deployment_id"], row["status"], row["environment"]) == ("gitlab-deployment-15", "succeeded", "staging")
    assert (row["service_name"], row["service_namespace"]) == ("hooks", "qa")
    assert row["vcs_revision"] == "279484c09fbe69ededfced8c1bb6e6d24616b468"
    assert row["finished"] == "2021-04-28T19:50:00Z"
    assert deliveries(gitlab)[0]["event"] == "deployment.success"


def test_a_redelivery_with_the_same_idempotency_key_counts_once(gitlab: RunningCollector) -> None:
    send(gitlab, "deployment", **{"Idempotency-Key": "k-1"})
    again = send(gitlab, "deployment", **{"Idempotency-Key": "k-1"}).json()

    assert again == {"outcome": "ignored", "reason": "delivery k-1 was accepted already; it counts once"}
    assert counts(gitlab) == (1, 0, 1)


def test_a_pipeline_of_a_deploy_ref_is_a_deployment_led_by_its_commit(gitlab: RunningCollector) -> None:
    assert send(gitlab, "pipeline").json() == {"outcome": "accepted"}

    row = only_deployment(gitlab)
    assert (row["deployment_id"], row["environment"], row["service_name"]) == ("gitlab-pipeline-31", "production",
                                                                               "gitlab-test")  # fmt: skip
    assert (row["first_commit"], row["finished"]) == ("2016-08-12T15:23:21Z", "2016-08-12T15:26:29Z")
    assert (row["pipeline_name"], row["pipeline_run_id"]) == ("Pipeline for branch: master", "31")


def test_a_pipeline_of_another_ref_or_not_finished_is_ignored(gitlab: RunningCollector) -> None:
    other, running = fixture("pipeline"), fixture("pipeline")
    other["object_attributes"]["ref"] = "feature"
    running["object_attributes"]["status"] = "running"

    reason = "pipelines on 'feature' are not in gitlab.deploy_pipelines"
    assert send(gitlab, "pipeline", other).json()["reason"] == reason
    assert send(gitlab, "pipeline", running).json()["reason"] == "pipeline status 'running' is not final"
    assert counts(gitlab) == (0, 0, 0)


def test_a_push_records_the_first_commit_of_its_revisions(gitlab: RunningCollector) -> None:
    assert send(gitlab, "push").json() == {"outcome": "accepted"}

    found = rows(gitlab, "SELECT repository, revision, strftime(first_commit_at, '%Y-%m-%dT%H:%M:%SZ') AS first "
                         "FROM webhook_changes ORDER BY revision")  # fmt: skip
    assert found == [
        {"repository": "mike/diaspora", "revision": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
         "first": "2011-12-12T12:27:31Z"},
        {"repository": "mike/diaspora", "revision": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
         "first": "2011-12-12T12:27:31Z"},
    ]  # fmt: skip


@pytest.mark.parametrize("token", ["not-the-token", ""], ids=["wrong", "none"])
def test_a_delivery_without_the_secret_token_is_refused_and_changes_nothing(
    gitlab: RunningCollector, token: str
) -> None:
    answer = send(gitlab, "deployment", **{"X-Gitlab-Token": token})

    assert answer.status_code == 401
    assert answer.json()["outcome"] == "refused"
    assert counts(gitlab) == (0, 0, 0)
