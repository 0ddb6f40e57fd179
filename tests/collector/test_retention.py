"""trellis/collector/retention.py: each signal kept its own number of days, swept beside ingest; deployments,
incidents and the catalog kept; ``trellis retention`` shows what is kept and what a sweep would remove."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from trellis.collector import Client
from trellis.testing import RunningCollector, finish, logs_request, metrics_request, spans_request, trellis

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
POLICY = ("--retention-metrics-days", "30", "--retention-logs-days", "14", "--retention-traces-days", "7")


def _ns(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1e9))


def _send(running: RunningCollector, signal: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{running.otlp_http}/v1/{signal}", json=body, timeout=30)
    assert response.status_code == 200, response.text


def _history(running: RunningCollector, ages_days: list[int], tag: str = "r") -> None:
    """A metric point, a log record, a span and a deployment event at each age."""
    points = [{"asDouble": float(age), "timeUnixNano": _ns(NOW - age * DAY)} for age in ages_days]
    _send(running, "metrics", metrics_request(points, name=f"retention.{tag}"))
    records = [{"timeUnixNano": _ns(NOW - age * DAY), "body": {"stringValue": f"{tag}-{age}"}} for age in ages_days]
    deployments = [
        {
            "eventName": "trellis.deployment",
            "timeUnixNano": _ns(NOW - age * DAY),
            "attributes": [
                {"key": "deployment.id", "value": {"stringValue": f"{tag}-deploy-{age}"}},
                {"key": "deployment.status", "value": {"stringValue": "succeeded"}},
            ],
        }
        for age in ages_days
    ]
    _send(running, "logs", logs_request(records + deployments, service_name=f"svc-{tag}"))
    spans = [
        {
            "traceId": f"{age + 1:032x}",
            "spanId": f"{age + 1:016x}",
            "name": f"{tag}-{age}",
            "startTimeUnixNano": _ns(NOW - age * DAY - timedelta(seconds=1)),
            "endTimeUnixNano": _ns(NOW - age * DAY),
        }
        for age in ages_days
    ]
    _send(running, "traces", spans_request(spans, service_name=f"svc-{tag}"))


def _counts(running: RunningCollector, tag: str = "r") -> dict[str, int]:
    sql = """
        SELECT (SELECT count(*) FROM otel_metrics_gauge WHERE metric_name = $metric) AS metrics,
               (SELECT count(*) FROM otel_logs WHERE service_name = $service AND event_name IS NULL) AS logs,
               (SELECT count(*) FROM otel_traces WHERE service_name = $service) AS traces,
               (SELECT count(*) FROM deployments WHERE deployment_id LIKE $deploys) AS deployments
    """
    params = {"metric": f"retention.{tag}", "service": f"svc-{tag}", "deploys": f"{tag}-deploy-%"}
    with Client(running.api) as client:
        return dict(client.sql(sql, params=params).to_dicts()[0])


def _table(answer: dict[str, Any], table: str) -> dict[str, Any]:
    return next(t for t in answer["tables"] if t["table"] == table)


def test_a_sweep_removes_what_each_signal_no_longer_keeps(make_collector: Callable[..., RunningCollector]) -> None:
    running = make_collector(*POLICY, "--retention-interval-seconds", "0")
    _history(running, [0, 3, 10, 20, 40])

    with Client(running.api) as client:
        before = client.retention()
        removed = client.sweep_retention()["removed"]
        after = client.retention()

    assert before["policy"] == {"metrics": 30, "logs": 14, "traces": 7}
    assert _table(before, "otel_metrics_gauge")["expired"] == 1  # 40 days
    assert _table(before, "otel_logs")["expired"] == 2 * 2  # 20 and 40 days, records and deployment events
    assert _table(before, "otel_traces")["expired"] == 3  # 10, 20 and 40 days
    assert (removed["otel_metrics_gauge"], removed["otel_logs"], removed["otel_traces"]) == (1, 4, 3)
    assert all(t["expired"] == 0 for t in after["tables"])
    assert _counts(running) == {"metrics": 4, "logs": 3, "traces": 2, "deployments": 5}


def test_nothing_is_removed_without_a_retention(make_collector: Callable[..., RunningCollector]) -> None:
    running = make_collector("--retention-interval-seconds", "1")
    _history(running, [0, 400])
    time.sleep(2.5)

    with Client(running.api) as client:
        answer = client.retention()
        assert client.sweep_retention()["removed"] == {}

    assert answer["interval_seconds"] == 0 and answer["last_sweep"] is None
    assert _counts(running) == {"metrics": 2, "logs": 2, "traces": 2, "deployments": 2}


def test_sweeps_run_on_schedule_beside_ingest_and_keep_every_recent_row(
    make_collector: Callable[..., RunningCollector],
) -> None:
    running = make_collector(*POLICY, "--retention-interval-seconds", "0.5")
    _history(running, [60, 90, 120], tag="old")
    stop = threading.Event()
    sent: list[int] = []

    def ingest() -> None:
        while not stop.is_set():
            _history(running, [0, 1], tag="new")
            sent.append(1)

    sender = threading.Thread(target=ingest)
    sender.start()
    try:
        deadline = time.monotonic() + 30
        while _counts(running, "old")["metrics"] and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        sender.join(30)

    assert _counts(running, "old") == {"metrics": 0, "logs": 0, "traces": 0, "deployments": 3}
    new = _counts(running, "new")
    assert new["metrics"] == new["logs"] == new["traces"] == 2 * len(sent) > 0
    with Client(running.api) as client:
        assert client.retention()["last_sweep"]["removed"]["otel_metrics_gauge"] >= 0


def test_trellis_retention_shows_what_is_kept_and_sweeps(make_collector: Callable[..., RunningCollector]) -> None:
    running = make_collector(*POLICY, "--retention-interval-seconds", "0")
    _history(running, [0, 40])

    code, out, err = finish(trellis("retention", "--api", running.api))
    assert code == 0, err
    gauge = next(line for line in out.splitlines() if line.startswith("otel_metrics_gauge "))
    assert gauge.split()[1:4] == ["30", "days", "2"] and gauge.split()[-1] == "1"
    assert "kept for ever: deployments, incidents, the catalog" in out

    code, out, err = finish(trellis("retention", "--sweep", "--api", running.api))
    assert code == 0, err
    assert out.splitlines()[0] == "removed 1 rows of otel_metrics_gauge, 2 rows of otel_logs, 1 rows of otel_traces"


def test_a_negative_retention_is_refused_at_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = finish(trellis("serve", "--db", str(tmp_path / "t.duckdb"), "--retention-logs-days", "-1"))
    assert code != 0
    assert "retention_logs_days" in err and "Traceback" not in err
