"""``trellis demo``: its processes start on free ports, serve data (OTLP and webhooks), reuse it on a second run,
and all stop on Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from trellis.collector.client import Client
from trellis.simulator.model import SAMPLE_DATA
from trellis.testing import free_ports

pytestmark = pytest.mark.slow

READY = "Ctrl-C stops every process the demo started."
VIEWER = next(
    t["token"] for t in yaml.safe_load((SAMPLE_DATA / "tokens.yaml").read_text())["tokens"] if t["name"] == "viewer"
)


class Demo:
    """``python -m trellis demo`` on free ports, its output read line by line."""

    def __init__(self, db: Path, *flags: str) -> None:
        grpc_port, http_port, self.api_port, self.dashboard_port = free_ports(4)
        command = [
            sys.executable, "-m", "trellis", "demo", "--db", str(db),
            "--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port),
            "--api-port", str(self.api_port), "--dashboard-port", str(self.dashboard_port), *flags,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the demo exited ({self.process.wait()}):\n" + "\n".join(self.lines))
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {timeout:g} s:\n" + "\n".join(self.lines))

    def interrupt(self, timeout: float = 60, times: int = 1) -> int:
        """Ctrl-C ``times`` times, a tenth of a second apart; the demo's exit code."""
        for _ in range(times):
            self.process.send_signal(signal.SIGINT)
            time.sleep(0.1)
        code = self.process.wait(timeout)
        self.wait_for("demo stopped", 5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.kill()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the demo's processes through /proc")
def test_the_demo_serves_data_reuses_it_and_leaves_no_process_behind(tmp_path: Path, demos: list[Demo]) -> None:
    db = tmp_path / "var" / "trellis.duckdb"
    first = Demo(db, "--days", "1", "--speed", "300")
    demos.append(first)
    first.wait_for(READY, 240)
    with Client(url=first.api, token=VIEWER) as client:
        assert client.health()
        history = _history(client)
        assert history["deployments"] > 0 and history["points"] > 1000 and history["spans"] > 0
        assert int(client.sql("SELECT count(*) AS n FROM analytics_dora")["n"][0]) > 0
        assert int(client.sql("SELECT count(*) AS n FROM catalog_bindings")["n"][0]) > 0
        _assert_webhooks_were_accepted(client, first.lines)
    assert any("demo-alice-local-only" in line for line in first.lines)  # the demo users' tokens are printed
    first.wait_for("live: metrics every", 30)
    processes = descendants(first.process.pid)
    assert processes, "the demo started no process"
    assert first.interrupt() == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in processes if alive(pid)], "processes left behind"

    second = Demo(db, "--days", "1", "--no-live", "--no-dashboard")
    demos.append(second)
    second.wait_for(READY, 120)
    assert any("history: reusing the" in line for line in second.lines), second.lines
    assert any("everything unchanged" in line for line in second.lines), second.lines
    with Client(url=second.api, token=VIEWER) as client:
        assert _history(client) == history
        assert int(client.sql("SELECT count(*) AS n FROM simulation_runs")["n"][0]) == 1
    processes = descendants(second.process.pid)
    assert processes, "the second demo started no process"
    # An impatient second Ctrl-C while the demo stops its processes stops nothing half way.
    assert second.interrupt(times=3) == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in processes if alive(pid)], "processes left behind after Ctrl-C three times"


def _history(client: Client) -> dict[str, int]:
    """What the backfill stored: rows up to the end of the simulated period (live data comes after it)."""
    end = "(SELECT max(end_at) FROM simulation_runs)"
    queries = {
        "deployments": f"SELECT count(*) AS n FROM deployments WHERE finished_at <= {end}",
        "points": f"SELECT count(*) AS n FROM otel_metrics_sum WHERE time <= {end}",
        "spans": f"SELECT count(*) AS n FROM otel_traces WHERE end_time <= {end}",
    }
    return {name: int(client.sql(sql)["n"][0]) for name, sql in queries.items()}


def _assert_webhooks_were_accepted(client: Client, lines: list[str]) -> None:
    """GitHub and PagerDuty deliveries were all accepted, made deployments (with their lead time) and
    incidents, and took the place of OTLP events: the deployments are those the history planned, once."""
    sent = [line for line in lines if line.startswith("webhooks: ")]
    assert len(sent) == 1 and sent[0].endswith(" accepted"), lines
    deliveries = client.sql("SELECT source, outcome, count(*) AS n FROM webhook_deliveries GROUP BY ALL ORDER BY ALL")
    by_source = {(r["source"], r["outcome"]): r["n"] for r in deliveries.to_dicts()}
    assert set(by_source) == {("github", "accepted"), ("pagerduty", "accepted")}, by_source
    assert f"{by_source[('github', 'accepted')]} GitHub and {by_source[('pagerduty', 'accepted')]} PagerDuty" in sent[0]
    github = client.sql(
        "SELECT count(*) AS n, count(first_commit_at) AS with_lead_time, count(DISTINCT service_namespace) AS teams "
        "FROM deployments WHERE deployment_id LIKE 'github-deployment-%' AND environment LIKE 'production%'"
    ).to_dicts()[0]
    assert github["n"] > 0 and github["with_lead_time"] == github["n"] and github["teams"] == 1, github
    incidents = client.sql("SELECT count(*) AS n FROM incidents WHERE incident_id LIKE 'pagerduty-%'")
    assert int(incidents["n"][0]) > 0
    planned = client.sql("SELECT deployments AS n FROM simulation_runs")
    assert _history(client)["deployments"] == int(planned["n"][0])
