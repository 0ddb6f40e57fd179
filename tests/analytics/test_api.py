"""End to end: telemetry sent by the OpenTelemetry SDK through a running collector, analyzed on its API.

Deployments and incidents go out as events through ``trellis.collector.emit.send_event`` (the SDK's LoggerProvider
and OTLP/HTTP log exporter, what ``trellis emit`` runs); container metrics through the SDK's MeterProvider
with the OTLP/HTTP metric exporter. ``POST /api/v1/analyze`` must then give the answers the jobs give on the
same data inserted by hand, readable through ``/api/v1/query``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import httpx
import polars as pl
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from polars.testing import assert_frame_equal

from tests.analytics.conftest import insert
from tests.analytics.scenarios import SCENARIO, SCENARIO_INCIDENTS, TWO_WEEKS
from tests.conftest import bearer
from trellis.analytics import dora
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.sources import Sources
from trellis.collector.client import Client
from trellis.collector.emit import DEPLOYMENT_EVENT, INCIDENT_EVENT, send_event
from trellis.collector.schema import migrate
from trellis.testing import RunningCollector

pytestmark = pytest.mark.slow

GIB = 1 << 30


def _ns(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp()) * 1_000_000_000


def _rfc3339(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat()


def send_scenario(collector: RunningCollector) -> None:
    """The DORA scenario of test_dora, as `trellis emit` sends it."""
    for d in SCENARIO:
        resource = {"service.name": d["service_name"], "service.namespace": d["service_namespace"]}
        attributes = {
            "deployment.id": d["deployment_id"],
            "deployment.status": d["status"],
            "deployment.environment.name": d["environment"],
            "trellis.change.first_commit_time": _rfc3339(d["first_commit_at"]) if d["first_commit_at"] else None,
        }
        send_event(collector.otlp_http, None, DEPLOYMENT_EVENT, resource, attributes, _ns(d["finished_at"]))
    for i in SCENARIO_INCIDENTS:
        resource = {"service.name": i["service_name"], "service.namespace": i["service_namespace"]}
        opened = {
            "incident.id": i["incident_id"],
            "incident.status": "opened",
            "deployment.environment.name": i["environment"],
            "trellis.caused_by.deployment_id": i["caused_by_deployment_id"],
        }
        send_event(collector.otlp_http, None, INCIDENT_EVENT, resource, opened, _ns(i["opened_at"]))
        if i["resolved_at"] is not None:
            resolved = {"incident.id": i["incident_id"], "incident.status": "resolved"}
            send_event(collector.otlp_http, None, INCIDENT_EVENT, resource, resolved, _ns(i["resolved_at"]))


def send_container_metrics(collector: RunningCollector, exports: int = 4) -> None:
    """'gauges' uses a steady 0.25 core of its 1-core request and 256 MiB of 1 GiB; 'counter' reports
    container.cpu.time growing by 0.5 s per second (cumulative, as the SDK sends by default) from its first
    observation, which is when the SDK starts the cumulative series."""
    started: list[float] = []

    def gauge(value: float) -> Callable[[CallbackOptions], Iterable[Observation]]:
        return lambda options: [Observation(value)]

    def cpu_seconds(options: CallbackOptions) -> Iterable[Observation]:
        now = time.time()
        started.append(now)
        return [Observation(0.5 * (now - started[0]))]

    providers = []
    for workload, instruments in (
        ("gauges", [("container.cpu.usage", 0.25), ("k8s.container.cpu.request", 1.0),
                    ("container.memory.working_set", 0.25 * GIB), ("k8s.container.memory.request", 1.0 * GIB)]),
        ("counter", []),
    ):  # fmt: skip
        resource = Resource.create(
            {
                "service.name": workload,
                "service.namespace": "shop",
                "deployment.environment.name": "production",
                "k8s.namespace.name": "shop",
                "k8s.pod.name": f"{workload}-6c9f-abcde",
                "k8s.container.name": "app",
            }
        )
        exporter = OTLPMetricExporter(endpoint=f"{collector.otlp_http}/v1/metrics", timeout=10)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
        meter = provider.get_meter("tests.analytics")
        for name, value in instruments:
            meter.create_observable_gauge(name, callbacks=[gauge(value)])
        if workload == "counter":
            meter.create_observable_counter("container.cpu.time", callbacks=[cpu_seconds], unit="s")
        providers.append(provider)
    try:
        for _ in range(exports):
            time.sleep(0.25)
            for provider in providers:
                assert provider.force_flush(10_000)
    finally:
        for provider in providers:
            provider.shutdown()


def analyze(collector: RunningCollector, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{collector.api}/api/v1/analyze", json=body, headers=headers or {}, timeout=120)


def by_hand() -> pl.DataFrame:
    """The DORA job on the same data inserted by hand into a fresh database."""
    con = duckdb.connect()
    migrate(con)
    insert(con, "deployments", SCENARIO)
    insert(con, "incidents", SCENARIO_INCIDENTS)
    return dora.run(Sources(con), TWO_WEEKS, AnalyticsConfig())


def test_telemetry_from_the_sdk_gives_the_same_answers_through_the_api(
    make_collector: Callable[..., RunningCollector],
) -> None:
    collector = make_collector("--analytics-interval-seconds", "0")
    send_scenario(collector)
    send_container_metrics(collector)

    answer = analyze(collector, {"from": "2026-01-05", "to": "2026-01-19", "jobs": ["dora"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"]) == ("2026-01-05T00:00:00", "2026-01-19T00:00:00")
    [result] = body["results"]
    expected = by_hand()
    assert (result["job"], result["table"], result["rows"]) == ("dora", "analytics_dora", expected.height)
    assert result["seconds"] >= 0

    with Client(collector.api) as client:
        stored = client.sql("SELECT * EXCLUDE (period_start, period_end) FROM analytics_dora")
        period = client.sql("SELECT DISTINCT period_start, period_end FROM analytics_dora").row(0)
    assert period == (datetime(2026, 1, 5), datetime(2026, 1, 19))
    assert_frame_equal(stored, expected)
    row = stored.filter(
        pl.col("level") == "workload", pl.col("bucket") == "period", pl.col("environment") == "production"
    ).row(0, named=True)
    assert (row["deployments"], row["failed_deployments"], row["lead_time_median_hours"]) == (6, 3, 12.0)
    assert (row["recovery_median_hours"], row["rework_deployments"]) == (2.0, 2)

    now = datetime.now(UTC).replace(tzinfo=None)
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    answer = analyze(collector, {**window, "jobs": ["utilization"]})
    assert answer.status_code == 200, answer.text
    with Client(collector.api) as client:
        usage = client.sql("SELECT * FROM analytics_utilization ORDER BY workload, resource")
    rows = {(r["workload"], r["resource"]): r for r in usage.to_dicts()}
    gauges_cpu = rows[("gauges", "cpu")]
    assert (gauges_cpu["usage_avg"], gauges_cpu["usage_p95"], gauges_cpu["request_avg"]) == (0.25, 0.25, 1.0)
    assert gauges_cpu["idle_share"] == pytest.approx(0.75)
    assert gauges_cpu["recommended_request"] == pytest.approx(0.2875)
    assert rows[("gauges", "memory")]["usage_to_request"] == pytest.approx(0.25)
    counter = rows[("counter", "cpu")]
    assert counter["samples"] >= 3
    assert counter["usage_p50"] == pytest.approx(0.5, rel=0.05)
    assert counter["usage_avg"] == pytest.approx(0.5, rel=0.05)


def test_analyze_needs_the_admin_scope_and_names_unknown_jobs(
    make_collector: Callable[..., RunningCollector], tokens_file: Any
) -> None:
    """Analyzing replaces the tables everyone reads: a reader may not, and the tables stay as they were."""
    collector = make_collector("--tokens-file", str(tokens_file), headers=bearer("reader"))
    assert analyze(collector, {"jobs": ["dora"]}).status_code == 401
    assert analyze(collector, {"jobs": ["dora"]}, bearer("ingester")).status_code == 403
    refused = analyze(collector, {"jobs": ["dora"]}, bearer("reader"))
    assert refused.status_code == 403 and "admin" in refused.json()["error"]
    tables = httpx.post(f"{collector.api}/api/v1/query", json={"sql": "FROM duckdb_tables()"}, headers=bearer("reader"))
    names = [column["name"] for column in tables.json()["columns"]]
    assert "analytics_dora" not in {dict(zip(names, row, strict=True))["table_name"] for row in tables.json()["rows"]}
    answer = analyze(collector, {"jobs": ["nope"]}, bearer("admin"))
    assert answer.status_code == 400 and "unknown job 'nope'" in answer.json()["error"]
    answer = analyze(collector, {"from": "2026-02-01", "to": "2026-01-01"}, bearer("admin"))
    assert answer.status_code == 400 and "before it starts" in answer.json()["error"]
    answer = analyze(collector, {}, bearer("admin"))
    assert answer.status_code == 200, answer.text
    assert [r["job"] for r in answer.json()["results"]] == [
        "dora", "adoption", "demand", "utilization", "cost", "platform_health",
    ]  # fmt: skip
