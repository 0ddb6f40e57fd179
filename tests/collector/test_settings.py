"""Settings given to ``trellis serve`` reach the collector; a bad one stops it with one line."""

from __future__ import annotations

from pathlib import Path

import httpx

from trellis.testing import finish, start_collector, trellis


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
