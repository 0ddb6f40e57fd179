"""trellis/analytics/sources.py:

Windows and derived columns are computed by DuckDB; filters and projections pushed down.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
import pytest

from tests.analytics.conftest import deployment, insert
from trellis.analytics.sources import Period, Sources


def test_a_window_keeps_the_half_open_range_also_on_timestamptz(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "deployments", [deployment(str(d), datetime(2026, 1, d)) for d in (1, 2, 3)])
    window = ("finished_at", datetime(2026, 1, 2), datetime(2026, 1, 3))
    assert Sources(con).scan("deployments", window=window).select("deployment_id").collect()[
        "deployment_id"
    ].to_list() == ["2"]
    con.execute("SET TimeZone = 'Europe/Berlin'")
    con.execute(
        "INSERT INTO catalog_misses VALUES ('w', 'a', 'e', NULL, 'r', 't', 'c', 'why', '2026-01-02 00:30:00+01')"
    )
    frame = Sources(con).scan("catalog_misses", window=("missed_at", datetime(2026, 1, 1, 23, 30), None)).collect()
    assert frame.height == 1
    assert (
        Sources(con)
        .scan("catalog_misses", window=("missed_at", datetime(2026, 1, 1, 23, 31), None))
        .collect()
        .is_empty()
    )


def test_derived_columns_read_map_values_in_the_database(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "otel_metrics_gauge", [{"metric_name": "m", "resource_attributes": {"k8s.deployment.name": "web"}}])
    frame = Sources(con).scan(
        "otel_metrics_gauge", derived={"deployment": "resource_attributes['k8s.deployment.name']"}
    )
    assert frame.select("deployment").collect()["deployment"].to_list() == ["web"]


def test_filters_and_projections_reach_duckdb(con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb.polars_io as polars_io

    pushed: list[str] = []
    original = polars_io._tree_to_sql_expression

    def spy(tree, schema=None):  # type: ignore[no-untyped-def]
        expression = original(tree, schema)
        pushed.append(str(expression))
        return expression

    monkeypatch.setattr(polars_io, "_tree_to_sql_expression", spy)
    insert(
        con,
        "deployments",
        [deployment("a", datetime(2026, 1, 1)), deployment("b", datetime(2026, 1, 1), status="failed")],
    )
    frame = Sources(con).scan("deployments").filter(pl.col("status") == "failed").select("deployment_id").collect()
    assert frame["deployment_id"].to_list() == ["b"]
    assert any("status" in p and "failed" in p for p in pushed)


def test_missing_tables_and_empty_periods() -> None:
    sources = Sources(duckdb.connect())
    assert not sources.has("deployments")
    with pytest.raises(KeyError, match="deployments does not exist"):
        sources.scan("deployments")
    with pytest.raises(ValueError, match="before it starts"):
        Period(datetime(2026, 2, 1), datetime(2026, 1, 1))
