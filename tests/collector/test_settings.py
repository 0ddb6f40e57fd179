"""Settings given to ``trellis serve`` reach the collector; a bad one stops it with one line."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from trellis.testing import finish, free_ports, start_collector, trellis


def test_the_duckdb_memory_limit_setting_reaches_the_store(tmp_path: Path) -> None:
    running = start_collector(tmp_path / "limited.duckdb", "--duckdb-memory-limit", "300MB")
    try:
        response = httpx.get(f"{running.api}/api/v1/stats", timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["duckdb_memory_limit"] == "286.1 MiB"  # DuckDB shows 300 MB in MiB
    finally:
        running.stop()


def test_a_malformed_memory_limit_is_refused_in_one_line_naming_the_setting(tmp_path: Path) -> None:
    db = tmp_path / "never.duckdb"
    code, _out, err = finish(trellis("serve", "--db", str(db), "--duckdb-memory-limit", "lots"))

    assert code != 0
    assert "duckdb_memory_limit" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not db.exists()


def _serve_on_one_port_twice(db: Path, http: int) -> tuple[int, str, str, int]:
    """``trellis serve`` with the same port for gRPC and the API, and ``http`` for OTLP/HTTP."""
    port = free_ports(1)[0]
    code, out, err = finish(
        trellis(
            "serve", "--db", str(db),
            "--otlp-grpc-port", str(port), "--otlp-http-port", str(http), "--api-port", str(port),
        )
    )  # fmt: skip
    return code, out, err, port


def test_two_receivers_on_one_port_are_refused_in_one_line(tmp_path: Path) -> None:
    """The same port for gRPC and the API once left a collector whose API never answered."""
    db = tmp_path / "never.duckdb"
    code, out, err, port = _serve_on_one_port_twice(db, free_ports(1)[0])

    assert code != 0
    assert err.strip() == f"error: the OTLP/gRPC and API ports are both {port}: give each its own port"
    assert "Trellis collector on" not in out
    assert not db.exists()


def test_two_receivers_on_one_port_are_named_before_any_port_taken_by_another_program(tmp_path: Path) -> None:
    """The mistake in the settings is the one to fix first, whatever else holds a port."""
    db = tmp_path / "never.duckdb"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _out, err, port = _serve_on_one_port_twice(db, taken.getsockname()[1])

    assert code != 0
    assert err.strip() == f"error: the OTLP/gRPC and API ports are both {port}: give each its own port"
    assert not db.exists()


def test_a_taken_grpc_port_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "never.duckdb"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _out, err = finish(trellis("serve", "--db", str(db), "--otlp-grpc-port", str(port)))

    assert code != 0
    assert err.strip().startswith(f"error: cannot bind the OTLP/gRPC port 127.0.0.1:{port}"), err
    assert not db.exists()


def test_free_ports_are_distinct() -> None:
    for _ in range(50):
        ports = free_ports(3)
        assert len(set(ports)) == 3
