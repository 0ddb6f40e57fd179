"""Deployment and incident events, sent through a running collector, projected by docs/events.md."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from trellis.collector import Client
from trellis.testing import RunningCollector, finish, free_port, trellis

T0 = 1_767_268_800_000_000_000
"""2026-01-01T12:00:00Z in Unix nanoseconds."""
SECOND = 1_000_000_000


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": value}


def key_values(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in attributes.items()]


def event(name: str, attributes: dict[str, Any], time_ns: int | None = T0, observed_ns: int | None = None) -> dict:
    record: dict[str, Any] = {"eventName": name, "attributes": key_values(attributes), "body": {"stringValue": name}}
    if time_ns is not None:
        record["timeUnixNano"] = str(time_ns)
    if observed_ns is not None:
        record["observedTimeUnixNano"] = str(observed_ns)
    return record


def logs_export(*records: dict, resource: dict[str, Any] | None = None) -> dict:
    attributes = key_values(resource if resource is not None else {"service.name": "checkout-api"})
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": attributes},
                "scopeLogs": [{"scope": {"name": "ci"}, "logRecords": list(records)}],
            }
        ]
    }


def send(collector: RunningCollector, export: dict) -> dict:
    response = httpx.post(f"{collector.otlp_http}/v1/logs", json=export, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def deployment(deployment_id: str, status: str = "succeeded", /, **attributes: Any) -> dict[str, Any]:
    return {"deployment.id": deployment_id, "deployment.status": status, **attributes}


def rows(collector: RunningCollector, sql: str) -> list[dict[str, Any]]:
    with Client(collector.api) as client:
        return client.sql(sql).to_dicts()


def deployment_row(collector: RunningCollector, deployment_id: str) -> dict[str, Any]:
    found = rows(
        collector,
        "SELECT * EXCLUDE (finished_at, first_commit_at), epoch_ns(finished_at) AS finished_at, "
        f"epoch_ns(first_commit_at) AS first_commit_at FROM deployments WHERE deployment_id = '{deployment_id}'",
    )
    assert len(found) == 1, found
    return found[0]


def incident_row(collector: RunningCollector, incident_id: str) -> dict[str, Any]:
    found = rows(
        collector,
        "SELECT * EXCLUDE (opened_at, resolved_at), epoch_ns(opened_at) AS opened_at, "
        f"epoch_ns(resolved_at) AS resolved_at FROM incidents WHERE incident_id = '{incident_id}'",
    )
    assert len(found) == 1, found
    return found[0]


def logged(collector: RunningCollector, deployment_or_incident_id: str) -> int:
    found = rows(
        collector,
        "SELECT count(*) AS n FROM otel_logs WHERE attributes['deployment.id'] = "
        f"'{deployment_or_incident_id}' OR attributes['incident.id'] = '{deployment_or_incident_id}'",
    )
    return int(found[0]["n"])


def ns(text: str) -> int:
    moment = datetime.fromisoformat(text)
    return int(moment.timestamp()) * SECOND + moment.microsecond * 1_000


# --- trellis emit --------------------------------------------------------------------------------


def test_trellis_emit_projects_a_deployment_and_an_incident(collector: RunningCollector) -> None:
    dep, inc, bogus = unique("emit-dep"), unique("emit-inc"), unique("emit-bogus")
    endpoint = ("--endpoint", collector.otlp_http)
    before = time.time_ns()
    # Independent commands run side by side to keep the test fast.
    deploy = trellis(
        "emit", "deployment", "--id", dep, "--service", "checkout-api", "--env", "production",
        "--status", "succeeded", "--namespace", "payments", "--version", "2.14.0", "--name", "checkout-api 2.14.0",
        "--revision", "9f2c1e7", "--repository", "https://github.com/example/checkout-api",
        "--pipeline", "deploy-production", "--run-id", "48213", "--first-commit-time", "2025-12-30T16:20:00+01:00",
        "--resource", "orders-db=postgres-database@3", "--resource", "checkout-queue=sqs-queue@1", *endpoint,
    )  # fmt: skip
    opened = trellis(
        "emit", "incident", "--id", inc, "--service", "checkout-api", "--status", "opened", "--env", "production",
        "--namespace", "payments", "--caused-by", dep, *endpoint,
    )  # fmt: skip
    refused = trellis(
        "emit", "deployment", "--id", bogus, "--service", "checkout-api", "--env", "production",
        "--status", "bogus", *endpoint,
    )  # fmt: skip
    code, out, err = finish(deploy)
    assert code == 0, err
    assert f"deployment {dep} of checkout-api in production sent (succeeded)" in out
    code, out, err = finish(opened)
    assert code == 0, err
    code, out, err = finish(refused)
    assert code != 0
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if "bogus" in line]
    assert len(error_lines) == 1, err
    assert "--status" in error_lines[0]
    assert "succeeded, failed" in error_lines[0]
    assert out == ""
    # Resolved after opened: a second command, once the first has been acknowledged.
    code, out, err = finish(
        trellis("emit", "incident", "--id", inc, "--service", "checkout-api", "--status", "resolved", *endpoint)
    )
    assert code == 0, err
    after = time.time_ns()

    row = deployment_row(collector, dep)
    finished_at = row.pop("finished_at")
    assert before <= finished_at <= after
    assert row == {
        "deployment_id": dep,
        "deployment_name": "checkout-api 2.14.0",
        "status": "succeeded",
        "environment": "production",
        "service_name": "checkout-api",
        "service_namespace": "payments",
        "service_version": "2.14.0",
        "first_commit_at": ns("2025-12-30T15:20:00+00:00"),
        "vcs_revision": "9f2c1e7",
        "vcs_repository": "https://github.com/example/checkout-api",
        "pipeline_name": "deploy-production",
        "pipeline_run_id": "48213",
        "resources": ["orders-db=postgres-database@3", "checkout-queue=sqs-queue@1"],
    }
    incident = incident_row(collector, inc)
    assert before <= incident["opened_at"] <= incident["resolved_at"] <= after
    assert incident["caused_by_deployment_id"] == dep
    assert incident["environment"] == "production"  # kept although the resolved event had no --env
    assert incident["service_namespace"] == "payments"
    # The refused command sent nothing at all.
    assert logged(collector, bogus) == 0
    assert rows(collector, f"SELECT count(*) AS n FROM deployments WHERE deployment_id = '{bogus}'") == [{"n": 0}]


# --- raw OTLP/JSON exports ---------------------------------------------------------------------


def test_a_deployment_record_fills_every_column(collector: RunningCollector) -> None:
    dep = unique("json-dep")
    resource = {
        "service.name": "checkout-api",
        "service.namespace": "payments",
        "service.version": "2.14.0",
        "deployment.environment.name": "staging",
    }
    record = event(
        "trellis.deployment",
        deployment(
            dep,
            **{
                "deployment.name": "checkout-api 2.14.0",
                "deployment.environment.name": "production",
                "trellis.change.first_commit_time": "2025-12-30T16:20:00.123456+01:00",
                "vcs.ref.head.revision": "9f2c1e7b4a0d",
                "vcs.repository.url.full": "https://github.com/example/checkout-api",
                "cicd.pipeline.name": "deploy-production",
                "cicd.pipeline.run.id": "48213",
                "trellis.resources": ["orders-db=postgres-database@3", "checkout-queue=sqs-queue@1"],
            },
        ),
        time_ns=T0,
        observed_ns=T0 + SECOND,
    )
    assert send(collector, logs_export(record, resource=resource)) == {}

    assert deployment_row(collector, dep) == {
        "deployment_id": dep,
        "deployment_name": "checkout-api 2.14.0",
        "status": "succeeded",
        "environment": "production",  # the event's attribute wins over the resource's
        "service_name": "checkout-api",
        "service_namespace": "payments",
        "service_version": "2.14.0",
        "finished_at": T0,
        "first_commit_at": ns("2025-12-30T15:20:00.123456+00:00"),
        "vcs_revision": "9f2c1e7b4a0d",
        "vcs_repository": "https://github.com/example/checkout-api",
        "pipeline_name": "deploy-production",
        "pipeline_run_id": "48213",
        "resources": ["orders-db=postgres-database@3", "checkout-queue=sqs-queue@1"],
    }


def test_optional_values_fall_back_as_documented(collector: RunningCollector) -> None:
    dep = unique("fallback-dep")
    resource = {"service.name": "billing", "deployment.environment.name": "staging"}
    record = event(
        "trellis.deployment",
        deployment(dep, "failed", **{"trellis.resources": "orders-db=postgres-database@3"}),
        time_ns=None,
        observed_ns=T0 + 7,
    )
    assert send(collector, logs_export(record, resource=resource)) == {}

    row = deployment_row(collector, dep)
    assert row["environment"] == "staging"  # from the resource when the event has none
    assert row["finished_at"] == T0 + 7  # observed time when the record's time is unset
    assert row["resources"] == ["orders-db=postgres-database@3"]  # one string is a one-element array
    assert row["status"] == "failed"
    assert row["first_commit_at"] is None
    assert row["deployment_name"] is None
    assert row["service_version"] is None


@pytest.mark.parametrize("first_commit", ["1767100000123456789", 1_767_100_000_123_456_789])
def test_first_commit_time_in_unix_nanoseconds_is_exact(collector: RunningCollector, first_commit: Any) -> None:
    dep = unique("unix-dep")
    record = event("trellis.deployment", deployment(dep, **{"trellis.change.first_commit_time": first_commit}))
    assert send(collector, logs_export(record)) == {}

    assert deployment_row(collector, dep)["first_commit_at"] == 1_767_100_000_123_456_789


def test_a_retried_export_does_not_create_a_second_row(collector: RunningCollector) -> None:
    dep, inc = unique("retry-dep"), unique("retry-inc")
    export = logs_export(
        event("trellis.deployment", deployment(dep)),
        event("trellis.incident", {"incident.id": inc, "incident.status": "opened"}),
    )
    send(collector, export)
    first = deployment_row(collector, dep)
    send(collector, export)

    assert deployment_row(collector, dep) == first
    assert incident_row(collector, inc)["opened_at"] == T0
    assert logged(collector, dep) == 2  # otel_logs is append-only; the projection is not
    assert logged(collector, inc) == 2


def test_a_later_event_updates_the_deployment_and_an_older_one_does_not(collector: RunningCollector) -> None:
    dep = unique("update-dep")
    send(collector, logs_export(event("trellis.deployment", deployment(dep, "failed", **{"cicd.pipeline.name": "p"}))))
    assert deployment_row(collector, dep)["status"] == "failed"

    later = deployment(dep, "succeeded", **{"cicd.pipeline.run.id": "2"})
    send(collector, logs_export(event("trellis.deployment", later, time_ns=T0 + 60 * SECOND)))
    row = deployment_row(collector, dep)
    assert (row["status"], row["finished_at"]) == ("succeeded", T0 + 60 * SECOND)
    assert row["pipeline_run_id"] == "2"
    assert row["pipeline_name"] == "p"  # a column the later event leaves out keeps its stored value

    send(collector, logs_export(event("trellis.deployment", deployment(dep, "failed"), time_ns=T0 + 30 * SECOND)))
    row = deployment_row(collector, dep)
    assert (row["status"], row["finished_at"]) == ("succeeded", T0 + 60 * SECOND)

    # Within one export, the latest event wins whatever its position.
    send(
        collector,
        logs_export(
            event("trellis.deployment", deployment(dep, "failed"), time_ns=T0 + 120 * SECOND),
            event("trellis.deployment", deployment(dep, "succeeded"), time_ns=T0 + 90 * SECOND),
        ),
    )
    row = deployment_row(collector, dep)
    assert (row["status"], row["finished_at"]) == ("failed", T0 + 120 * SECOND)


def test_events_in_one_export_give_the_row_they_give_one_by_one(collector: RunningCollector) -> None:
    together, apart = unique("together"), unique("apart")

    def events(dep: str) -> list[dict]:
        first = deployment(dep, "failed", **{"cicd.pipeline.name": "deploy", "vcs.ref.head.revision": "abc"})
        second = deployment(dep, "succeeded", **{"vcs.ref.head.revision": "def"})
        return [
            event("trellis.deployment", first, time_ns=T0),
            event("trellis.deployment", second, time_ns=T0 + SECOND),
        ]

    send(collector, logs_export(*events(together)))
    for record in events(apart):
        send(collector, logs_export(record))

    row = deployment_row(collector, together)
    assert row == {**deployment_row(collector, apart), "deployment_id": together}
    assert (row["status"], row["vcs_revision"], row["pipeline_name"]) == ("succeeded", "def", "deploy")


def test_opened_and_resolved_merge_into_one_incident_row(collector: RunningCollector) -> None:
    inc, late = unique("merge-inc"), unique("merge-late")
    dep = unique("cause")
    opened = {"incident.id": inc, "incident.status": "opened", "trellis.caused_by.deployment_id": dep}
    resource = {"service.name": "checkout-api", "service.namespace": "payments", "deployment.environment.name": "prod"}
    send(collector, logs_export(event("trellis.incident", opened, time_ns=T0), resource=resource))
    resolved = {"incident.id": inc, "incident.status": "resolved"}
    send(collector, logs_export(event("trellis.incident", resolved, time_ns=T0 + 600 * SECOND), resource={}))

    assert incident_row(collector, inc) == {
        "incident_id": inc,
        "service_name": "checkout-api",
        "service_namespace": "payments",
        "environment": "prod",
        "opened_at": T0,
        "resolved_at": T0 + 600 * SECOND,
        "caused_by_deployment_id": dep,  # not erased by the resolved event that lacks it
    }
    # Resolved arriving before opened merges just the same.
    send(collector, logs_export(event("trellis.incident", {"incident.id": late, "incident.status": "resolved"})))
    send(
        collector,
        logs_export(event("trellis.incident", {"incident.id": late, "incident.status": "opened"}, time_ns=T0 - SECOND)),
    )
    row = incident_row(collector, late)
    assert (row["opened_at"], row["resolved_at"]) == (T0 - SECOND, T0)


def test_records_breaking_the_contract_are_kept_reported_and_logged(collector: RunningCollector) -> None:
    good, no_id_marker, bad_status, bad_time, bad_resources, bad_incident = (
        unique(p) for p in ("good", "noid", "badstatus", "badtime", "badres", "badinc")
    )
    records = [
        event("trellis.deployment", deployment(good)),
        event("trellis.deployment", {"deployment.status": "succeeded", "deployment.name": no_id_marker}),
        event("trellis.deployment", deployment(bad_status, "done")),
        event("trellis.deployment", deployment(bad_time, **{"trellis.change.first_commit_time": "2025-12-30"})),
        event("trellis.deployment", deployment(bad_resources, **{"trellis.resources": [1, 2]})),
        event("trellis.incident", {"incident.id": bad_incident, "incident.status": "closed"}),
    ]
    answer = send(collector, logs_export(*records))

    partial = answer["partialSuccess"]
    assert partial["rejectedLogRecords"] == "5"
    message = partial["errorMessage"]
    assert "attribute 'deployment.id' is required" in message
    assert "attribute 'deployment.status' is 'done', expected one of succeeded, failed" in message
    assert "attribute 'trellis.change.first_commit_time' is '2025-12-30', which has no time zone" in message
    assert "attribute 'trellis.resources' must be a string array" in message
    assert "trellis.incident event breaks the contract: attribute 'incident.status' is 'closed'" in message
    assert message.endswith("(kept in otel_logs, not projected)")

    # Every record is kept in otel_logs; only the one that keeps the contract is projected.
    for kept in (good, bad_status, bad_time, bad_resources, bad_incident):
        assert logged(collector, kept) == 1
    no_id = rows(
        collector, f"SELECT count(*) AS n FROM otel_logs WHERE attributes['deployment.name'] = '{no_id_marker}'"
    )
    assert no_id == [{"n": 1}]
    assert deployment_row(collector, good)["status"] == "succeeded"
    projected = rows(
        collector,
        "SELECT deployment_id FROM deployments "
        f"WHERE deployment_id IN ('{bad_status}', '{bad_time}', '{bad_resources}') "
        f"UNION ALL SELECT incident_id FROM incidents WHERE incident_id = '{bad_incident}'",
    )
    assert projected == []

    log = collector.log()
    assert "WARNING trellis.events: trellis.deployment event breaks the contract: attribute 'deployment.id'" in log
    assert "trellis.change.first_commit_time' is '2025-12-30', which has no time zone" in log
    assert "trellis.incident event breaks the contract: attribute 'incident.status' is 'closed'" in log


def test_an_export_of_only_good_events_and_plain_logs_reports_no_rejection(collector: RunningCollector) -> None:
    dep = unique("plain-dep")
    plain = {
        "body": {"stringValue": "hello"},
        "timeUnixNano": str(T0),
        "attributes": key_values({"deployment.id": dep}),
    }
    not_an_event = event("something.else", deployment(dep, "weird"))
    assert send(collector, logs_export(event("trellis.deployment", deployment(dep)), plain, not_an_event)) == {}

    assert logged(collector, dep) == 3
    assert deployment_row(collector, dep)["status"] == "succeeded"


def test_an_rfc3339_time_reads_back_as_utc(collector: RunningCollector) -> None:
    dep = unique("utc-dep")
    record = event(
        "trellis.deployment", deployment(dep, **{"trellis.change.first_commit_time": "2025-12-30T16:20:00Z"})
    )
    send(collector, logs_export(record))
    found = rows(collector, f"SELECT first_commit_at FROM deployments WHERE deployment_id = '{dep}'")
    assert found[0]["first_commit_at"] == datetime(2025, 12, 30, 16, 20, tzinfo=UTC)


def test_trellis_emit_to_an_address_where_nothing_listens_fails_at_once_in_one_line() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    code, out, err = finish(
        trellis("emit", "incident", "--id", "i-1", "--service", "s", "--status", "opened", "--endpoint", endpoint)
    )
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"error: cannot reach the collector at {endpoint}: Connection refused"]
