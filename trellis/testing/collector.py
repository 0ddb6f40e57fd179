"""Running real collectors for tests, benchmarks and notebooks: ``trellis serve`` on free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now.

    The sockets stay bound until all are chosen, so the system cannot hand out one port twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def clean_environment() -> dict[str, str]:
    """This process's environment without ``TRELLIS_*`` variables, so a child sees only its flags."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}


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
        """Stop it (SIGTERM by default; SIGKILL after ``timeout``) and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_collector(
    db: Path, *args: str, headers: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 30
) -> RunningCollector:
    """Start ``trellis serve`` on ``db`` and free ports, with ``args`` added, and wait until its API answers.

    Its output goes to ``collector-<api port>.log`` beside the database. ``headers`` are sent with the
    health check (a token, when ``args`` give a tokens file)."""
    for attempt in range(3):
        try:
            return _start(db, args, headers or {}, cwd, timeout)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    """Another process took one of the chosen ports between choosing and binding it."""


def _start(
    db: Path, args: tuple[str, ...], headers: dict[str, str], cwd: Path | None, timeout: float
) -> RunningCollector:
    grpc_port, http_port, api_port = free_ports(3)
    log_path = db.parent / f"collector-{api_port}.log"
    command = [
        sys.executable, "-m", "trellis", "serve", "--db", str(db),
        "--otlp-grpc-port", str(grpc_port), "--otlp-http-port", str(http_port), "--api-port", str(api_port),
        *args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=clean_environment())
    running = RunningCollector(db, grpc_port, http_port, api_port, process, log_path, list(args))
    try:
        wait_healthy(running, headers, timeout)
    except RuntimeError:
        if "cannot bind" in running.log():
            raise PortTaken(running.log()) from None
        raise
    return running


def wait_healthy(running: RunningCollector, headers: dict[str, str], timeout: float = 30) -> None:
    """Return once the collector's health check answers; stop it and raise with its log otherwise."""
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


def trellis(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start the ``trellis`` command in its own process, without the caller's ``TRELLIS_*`` variables."""
    return subprocess.Popen(
        [sys.executable, "-m", "trellis", *args],
        cwd=cwd,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    """Wait for a ``trellis`` process: exit code, stdout, stderr."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


__all__ = [
    "RunningCollector",
    "clean_environment",
    "finish",
    "free_port",
    "start_collector",
    "trellis",
    "wait_healthy",
]
