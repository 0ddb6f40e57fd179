"""The simulator: the sample organisation, determinism for a seed, and what its output tells the analytics."""

from __future__ import annotations

import io
import shutil
import sys
from contextlib import redirect_stderr
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import yaml
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from trellis.cli import main
from trellis.collector.client import Client
from trellis.simulator.catalog import Actors, Replay, write_catalog
from trellis.simulator.metric_history import metric_requests
from trellis.simulator.model import SAMPLE_DATA, SimulationError, cpu_cores, load_organisation, memory_bytes
from trellis.simulator.otlp import SCOPE_NAME
from trellis.simulator.plan import DAY, NS, Plan, build_plan
from trellis.simulator.run import Target, send_history
from trellis.simulator.send import Progress
from trellis.simulator.signals import history_signals
from trellis.testing import RunningCollector

END = int(datetime(2026, 11, 16, tzinfo=UTC).timestamp()) * NS
"""A Monday at midnight: a period that ends here holds whole weeks, as DORA's frequency wants."""

TOKENS = yaml.safe_load((SAMPLE_DATA / "tokens.yaml").read_text())["tokens"]


def token(name: str) -> str:
    return next(str(t["token"]) for t in TOKENS if t["name"] == name)


def test_the_sample_organisation_is_complete() -> None:
    org = load_organisation()
    assert len(org.teams) == 8
    assert len(org.workloads) == 60
    assert [(e.id, e.type) for e in org.environments] == [
        ("development", "development"),
        ("staging", "staging"),
        ("production-eu", "production"),
        ("production-us", "production"),
    ]
    profiles = {t.id: t.profile.name for t in org.teams.values()}
    assert profiles["payments"] == "elite" and profiles["billing"] == "low"
    types = {r["type"] for w in org.workloads for r in w.resources.values()}
    assert types == {"postgres", "redis", "s3", "dns", "kafka-topic"}
    tokens = {t["name"]: t for t in TOKENS}
    assert "admin" in tokens["platform-admin"]["scopes"]
    assert {n for n, t in tokens.items() if "platform-admins" in t.get("groups", [])} == {"alice", "bob"}
    assert tokens["viewer"]["scopes"] == ["read"]
    assert "LOCAL DEMO USE ONLY" in (SAMPLE_DATA / "tokens.yaml").read_text()
    definitions = [
        d
        for f in sorted((SAMPLE_DATA / "catalog").glob("*.yaml"))
        for d in yaml.safe_load_all(f.read_text())
        if d and d["kind"] == "ResourceDefinition"
    ]
    assert len(definitions) == 15


def test_quantities_and_errors_name_the_file(tmp_path: Path) -> None:
    assert cpu_cores("250m", "x") == 0.25 and cpu_cores("2", "x") == 2.0
    assert memory_bytes("512Mi", "x") == 512 * 2**20 and memory_bytes("1Gi", "x") == 2**30
    with pytest.raises(SimulationError, match="not a CPU quantity"):
        cpu_cores("lots", "x")
    data = tmp_path / "org"
    shutil.copytree(SAMPLE_DATA, data, ignore=shutil.ignore_patterns("workloads"))
    (data / "teams.yaml").write_text("teams:\n  - {id: a, profile: nonexistent}\n")
    with pytest.raises(SimulationError, match=r"teams\.yaml.*unknown profile 'nonexistent'"):
        load_organisation(data)


def run_trellis(*args: str) -> tuple[int, str]:
    """``trellis ARGS`` through its real entry point, which prints an error a user can cause as one line:
    the exit code and what went to stderr."""
    err = io.StringIO()
    argv, sys.argv = sys.argv, ["trellis", *args]
    code: Any = 0
    try:
        with redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    return (code if isinstance(code, int) else 1), err.getvalue()


def test_simulate_needs_a_mode() -> None:
    code, err = run_trellis("simulate")
    assert code == 1
    assert err == "error: choose --backfill DAYS, --live, or both\n"


def _small_org(tmp_path: Path) -> Path:
    """The sample organisation with two teams, so that two full replays stay quick."""
    data = tmp_path / "org"
    shutil.copytree(SAMPLE_DATA, data)
    teams = yaml.safe_load((data / "teams.yaml").read_text())["teams"]
    keep = [t for t in teams if t["id"] in ("identity", "billing")]
    (data / "teams.yaml").write_text(yaml.safe_dump({"teams": keep}))
    return data


def _generate(data: Path, seed: int) -> tuple[Plan, list[bytes], bytes, bytes]:
    org = load_organisation(data)
    plan = build_plan(org, seed, END - 3 * DAY, END)
    actors = Actors.local(org)
    try:
        Replay(org, plan, actors).run()
    finally:
        actors.close()
    metrics = [request.SerializeToString() for _, _, request in metric_requests(plan, org)]
    spans, logs = history_signals(plan)
    return plan, metrics, encode_spans(spans).SerializeToString(), encode_logs(logs).SerializeToString()


def test_the_same_seed_gives_the_same_history(tmp_path: Path) -> None:
    data = _small_org(tmp_path)
    first, second = _generate(data, 7), _generate(data, 7)
    plan, metrics, spans, logs = first
    assert plan.deployments and metrics
    assert [asdict(d) for d in plan.deployments] == [asdict(d) for d in second[0].deployments]
    assert [asdict(i) for i in plan.incidents] == [asdict(i) for i in second[0].incidents]
    assert plan.resolutions == second[0].resolutions
    assert all(d.resources for d in plan.happened())
    assert metrics == second[1]
    assert spans == second[2] and logs == second[3]
    other = build_plan(load_organisation(data), 8, END - 3 * DAY, END)
    assert [d.finished for d in plan.deployments] != [d.finished for d in other.deployments]


# ---------------------------------------------------------------------------------------------
# A short backfill into a real collector, and what the analytics make of it
# ---------------------------------------------------------------------------------------------


def _analyze(collector: RunningCollector, start: int, end: int, jobs: list[str]) -> None:
    body = {"from": _iso(start), "to": _iso(end), "jobs": jobs}
    response = httpx.post(f"{collector.api}/api/v1/analyze", json=body, headers=_bearer("platform-admin"), timeout=300)
    assert response.status_code == 200, response.text


def _query(collector: RunningCollector, sql: str) -> list[dict[str, Any]]:
    with Client(url=collector.api, token=token("viewer")) as client:
        return client.sql(sql).to_dicts()


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(name)}"}


@pytest.mark.slow
def test_a_backfill_yields_the_profiles_it_was_given(tmp_path: Path, make_collector: Any) -> None:
    org = load_organisation()
    plan = build_plan(org, 7, END - 10 * DAY, END)
    con = duckdb.connect(":memory:")
    actors = Actors.local(org, con)
    try:
        Replay(org, plan, actors).run()
        marker = {"seed": 7, "days": 10, "start": None, "end": None, "deployments": 0, "incidents": 0}
        write_catalog(con, tmp_path / "trellis.duckdb", marker)
    finally:
        actors.close()
    collector = make_collector(
        "--tokens-file", str(SAMPLE_DATA / "tokens.yaml"), "--analytics-interval-seconds", "0",
        headers=_bearer("viewer"),
    )  # fmt: skip
    stats = send_history(
        org, plan, Target(collector.otlp_http, collector.api, token("ci-pipeline")), Progress(io.StringIO())
    )
    assert stats.points > 100_000 and stats.rejected == 0
    assert _query(collector, "SELECT count(*) AS n FROM deployments")[0]["n"] == len(plan.happened())

    _analyze(collector, plan.start, plan.end, ["dora"])
    bands = {
        (r["service_namespace"], r["environment"]): r["deployment_frequency_band"]
        for r in _query(
            collector,
            "SELECT service_namespace, environment, deployment_frequency_band FROM analytics_dora "
            "WHERE level = 'team' AND bucket = 'period' AND production",
        )
    }
    assert bands[("payments", "production-eu")] == "elite"
    assert bands[("payments", "production-us")] == "elite"
    assert bands[("billing", "production-eu")] == "low"
    assert bands[("billing", "production-us")] == "low"

    upgrade = next(a for a in plan.actions if a.kind == "step" and "07-postgres-16" in str(a.step.value))
    shares = []
    for day in range(1, 6):
        end = min(upgrade.at + day * DAY, plan.end)
        _analyze(collector, plan.start, end, ["adoption"])
        row = _query(
            collector,
            "SELECT share_on_active, active_version FROM analytics_adoption WHERE row_type = 'version' "
            f"AND definition_id = 'pg-prod' AND snapshot_at = TIMESTAMP '{_iso(end)[:-1].replace('T', ' ')}' LIMIT 1",
        )[0]
        assert row["active_version"] == 3
        shares.append(row["share_on_active"])
    assert shares == sorted(shares) and shares[-1] > shares[0] + 0.2, shares
    assert shares[-1] < 1.0  # the pinned consumer (and the laggards) are still on v2

    _analyze(collector, plan.start, plan.end, ["utilization"])
    rows = _query(
        collector,
        "SELECT workload, resource, request_avg, recommended_request FROM analytics_utilization "
        "WHERE environment = 'production-eu' AND workload IN ('reporting', 'campaigns', 'fraud-check')",
    )
    sizing = {(r["workload"], r["resource"]): r for r in rows}
    for workload in ("reporting", "campaigns"):  # heavily over-provisioned
        for resource in ("cpu", "memory"):
            row = sizing[(workload, resource)]
            assert row["recommended_request"] < 0.5 * row["request_avg"], row
    assert sizing[("fraud-check", "cpu")]["recommended_request"] > sizing[("fraud-check", "cpu")]["request_avg"]


def test_a_second_backfill_is_refused_and_sends_nothing(make_collector: Any) -> None:
    collector = make_collector("--analytics-interval-seconds", "0")
    earlier = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
                "scopeMetrics": [
                    {
                        "scope": {"name": SCOPE_NAME},
                        "metrics": [
                            {"name": "m", "gauge": {"dataPoints": [{"asDouble": 1.0, "timeUnixNano": str(END)}]}}
                        ],
                    }
                ],
            }
        ]
    }
    assert httpx.post(f"{collector.otlp_http}/v1/metrics", json=earlier, timeout=30).status_code == 200
    stored = "SELECT (SELECT count(*) FROM otel_metrics_gauge) + (SELECT count(*) FROM catalog_definitions) AS n"
    before = _query(collector, stored)

    code, err = run_trellis("simulate", "--backfill", "1", "--api", collector.api, "--endpoint", collector.otlp_http)

    assert code == 1
    assert "already holds the sample organisation's history" in err
    assert "Traceback" not in err
    assert _query(collector, stored) == before
