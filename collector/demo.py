"""``trellis demo``: the collector on the embedded database, with a little history to look at.

The first run sends a seeded set of deployment and incident events through the
OpenTelemetry SDK; later runs find them and send nothing again. Ctrl-C stops
every process the demo started.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from collector.client import Client, ClientError
from collector.emit import DEPLOYMENT_EVENT, INCIDENT_EVENT, send_event
from collector.settings import Settings

SERVICES = {
    "checkout": "shop",
    "cart": "shop",
    "payments": "payments",
    "ledger": "payments",
    "search": "discovery",
}
ENVIRONMENTS = ["staging", "production-eu"]
DAY_NS = 86_400 * 1_000_000_000


def start_collector(settings: Settings) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "collector", "serve", "--db", str(settings.db)]
    return subprocess.Popen(command)


def wait_healthy(client: Client, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClientError("the collector stopped before it became healthy (see its output above)")
        try:
            client.health()
            return
        except ClientError:
            time.sleep(0.2)
    raise ClientError(f"the collector did not answer within {timeout:g} s")


def seed_history(endpoint: str, days: int = 14, seed: int = 7) -> int:
    """Send a deterministic fortnight of deployments and incidents; returns how many events."""
    rng = random.Random(seed)
    now = time.time_ns()
    sent = 0
    for service, team in SERVICES.items():
        for day in range(days, 0, -1):
            for env in ENVIRONMENTS:
                if rng.random() < 0.4:
                    continue
                sent += _send_deployment(endpoint, rng, service, team, env, now - day * DAY_NS)
    return sent


def _send_deployment(endpoint: str, rng: random.Random, service: str, team: str, env: str, at: int) -> int:
    deployment_id = f"{service}-{env}-{at // 1_000_000_000}"
    status = "failed" if rng.random() < 0.15 else "succeeded"
    lead = rng.randint(1, 48) * 3_600 * 1_000_000_000
    send_event(
        endpoint,
        None,
        DEPLOYMENT_EVENT,
        {"service.name": service, "service.namespace": team, "service.version": f"1.{at % 97}.0"},
        {
            "deployment.id": deployment_id,
            "deployment.status": status,
            "deployment.environment.name": env,
            "trellis.change.first_commit_time": str(at - lead),
        },
        at,
    )
    if status == "failed" and env.startswith("production"):
        resource = {"service.name": service, "service.namespace": team}
        incident = {"incident.id": f"inc-{deployment_id}", "deployment.environment.name": env}
        send_event(endpoint, None, INCIDENT_EVENT, resource, {**incident, "incident.status": "opened"}, at)
        resolved = at + rng.randint(10, 300) * 60 * 1_000_000_000
        send_event(endpoint, None, INCIDENT_EVENT, resource, {**incident, "incident.status": "resolved"}, resolved)
        return 3
    return 1


def run_demo(settings: Settings) -> None:
    process = start_collector(settings)
    client = Client(url=f"http://{settings.host}:{settings.api_port}")
    try:
        wait_healthy(client, process)
        endpoint = f"http://{settings.host}:{settings.otlp_http_port}"
        existing = client.sql("SELECT count(*) AS n FROM deployments")["n"][0]
        if existing:
            print(f"reusing the {existing} deployments already in {settings.db}", flush=True)
        else:
            print("sending two weeks of sample deployments and incidents...", flush=True)
            print(f"sent {seed_history(endpoint)} events", flush=True)
        print(_next_steps(settings), flush=True)
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop(process)
        client.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    print("demo stopped", flush=True)


def _next_steps(settings: Settings) -> str:
    api = f"http://{settings.host}:{settings.api_port}"
    return (
        "\nThe collector is running. Try, in another terminal:\n"
        f"  .venv/bin/trellis query 'SELECT service_namespace, status, count(*) FROM deployments GROUP BY ALL'\n"
        f"  .venv/bin/trellis emit deployment --id my-first --service checkout --env staging --status succeeded\n"
        f"  .venv/bin/trellis snapshot var/snapshot.duckdb\n"
        f"  curl {api}/api/v1/stats\n"
        f"Send OTLP from any OpenTelemetry SDK to http://{settings.host}:{settings.otlp_http_port} (HTTP)"
        f" or {settings.host}:{settings.otlp_grpc_port} (gRPC).\n"
        "Press Ctrl-C to stop."
    )
