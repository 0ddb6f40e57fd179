"""Shared fixtures, cheapest first: paths and payloads, then a running collector."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
OTLP_EXAMPLES = ROOT / "tests" / "fixtures" / "otlp-examples"
EXAMPLE_SIGNALS = {"metrics": "metrics", "logs": "logs", "events": "logs", "trace": "traces"}
"""Each official example file and the signal it is an export of."""

TOKENS = {
    "ingester": ("tok-ingest-1234567890", ["ingest"]),
    "reader": ("tok-read-1234567890", ["read"]),
    "admin": ("tok-admin-1234567890", ["admin"]),
    "approver": ("tok-approve-1234567890", ["approve", "read"]),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningCollector:
    """A collector started as a subprocess on free ports."""

    db: Path
    grpc_port: int
    http_port: int
    api_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_args: list[str] = field(default_factory=list)

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_collector(db: Path, *args: str, headers: dict[str, str] | None = None) -> RunningCollector:
    """Start ``trellis serve`` on free ports and wait until its API answers."""
    grpc_port, http_port, api_port = free_port(), free_port(), free_port()
    log_path = db.parent / f"collector-{api_port}.log"
    command = [
        sys.executable, "-m", "trellis", "serve", "--db", str(db),
        "--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port), "--api-port", str(api_port),
        *args,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    running = RunningCollector(db, grpc_port, http_port, api_port, process, log_path, list(args))
    _wait_healthy(running, headers or {})
    return running


def _wait_healthy(running: RunningCollector, headers: dict[str, str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"the collector exited:\n{running.log()}")
        try:
            if httpx.get(f"{running.api}/api/v1/health", headers=headers, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    running.stop()
    raise RuntimeError(f"the collector did not become healthy:\n{running.log()}")


@pytest.fixture
def make_collector(tmp_path: Path) -> Iterator[Callable[..., RunningCollector]]:
    """Factory: start collectors for one test; all are stopped afterwards."""
    started: list[RunningCollector] = []

    def make(*args: str, db: Path | None = None, headers: dict[str, str] | None = None) -> RunningCollector:
        running = start_collector(db or tmp_path / "trellis.duckdb", *args, headers=headers)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """One open (tokenless) collector shared by the tests that only add data."""
    running = start_collector(tmp_path_factory.mktemp("shared") / "trellis.duckdb")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "tokens.yaml"
    entries = [{"name": name, "token": token, "scopes": scopes} for name, (token, scopes) in TOKENS.items()]
    path.write_text(yaml.safe_dump({"tokens": entries}))
    return path


def trellis(*args: str) -> subprocess.Popen[str]:
    """Start the ``trellis`` command in its own process, without the caller's TRELLIS_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    return subprocess.Popen(
        [sys.executable, "-m", "trellis", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a ``trellis`` process: exit code, stdout, stderr."""
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}
