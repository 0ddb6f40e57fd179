"""trellis/analytics/adoption.py: consumers per version over time, laggards and pins, from bindings and deployments."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
from polars.testing import assert_frame_equal

from tests.analytics.conftest import binding, deployment, insert, pin, version
from tests.analytics.scenarios import TWO_WEEKS
from trellis.analytics import adoption
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.sources import Sources

D = datetime
JAN12, JAN19 = D(2026, 1, 12), D(2026, 1, 19)


def history(con: duckdb.DuckDBPyConnection) -> None:
    """pg v1 (Dec 1), v2 (Jan 1) and v3 (Jan 14). checkout moves to v2 by a deployment on Jan 8 and stays there;
    cart moves from v2 to v3 on Jan 15; staging checkout never leaves v1; search binds v1 and deploys v2 at the
    same moment (the deployment wins); a failed deployment of v3 changes nothing."""
    insert(
        con,
        "catalog_versions",
        [version("pg", 1, D(2025, 12, 1), "deprecated"), version("pg", 2, D(2026, 1, 1), "deprecated"),
         version("pg", 3, D(2026, 1, 14))],
    )  # fmt: skip
    insert(
        con,
        "catalog_bindings",
        [
            binding("checkout", "db", "pg", 1, D(2025, 12, 10)),
            binding("checkout", "db", "pg", 1, D(2025, 12, 10), env="staging"),
            binding("cart", "db", "pg", 2, D(2026, 1, 2)),
            binding("cart", "db", "pg", 3, D(2026, 1, 15)),
            binding("search", "db", "pg", 1, D(2026, 1, 9, 12)),
        ],
    )
    insert(
        con,
        "deployments",
        [
            deployment("c-1", D(2026, 1, 8), resources=["db=pg@2", "cache=redis@1"]),
            deployment("s-1", D(2026, 1, 9, 12), service="search", resources=["db=pg@2"]),
            deployment("c-2", D(2026, 1, 16), status="failed", resources=["db=pg@3"]),
            deployment("bad", D(2026, 1, 16), service="odd", resources=["garbage", "x=pg@notanumber"]),
        ],
    )
    insert(con, "catalog_objects", [pin("soon", "2026-01-25T00:00:00Z"), pin("later", "2026-03-01T00:00:00Z")])


def run(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return adoption.run(Sources(con), TWO_WEEKS, AnalyticsConfig())


def test_consumers_per_version_over_time(con: duckdb.DuckDBPyConnection) -> None:
    history(con)
    frame = run(con)
    got = frame.filter(pl.col("row_type") == "version", pl.col("definition_id") == "pg").select(
        "snapshot_at", "version", "active_version", "is_active", "consumers", "share_of_consumers", "share_on_active"
    )
    expected = pl.DataFrame(
        [
            (JAN12, 1, 2, False, 1, 0.25, 0.75),  # staging checkout
            (JAN12, 2, 2, True, 3, 0.75, 0.75),  # checkout, cart, search
            (JAN19, 1, 3, False, 1, 0.25, 0.25),
            (JAN19, 2, 3, False, 2, 0.5, 0.25),  # checkout, search
            (JAN19, 3, 3, True, 1, 0.25, 0.25),  # cart
        ],
        schema={c: adoption.SCHEMA[c] for c in got.columns},
        orient="row",
    )
    assert_frame_equal(got, expected)
    redis = frame.filter(pl.col("definition_id") == "redis", pl.col("snapshot_at") == JAN19).row(0, named=True)
    assert (redis["consumers"], redis["active_version"], redis["share_on_active"]) == (1, None, None)


def test_consumers_behind_the_active_version_and_for_how_long(con: duckdb.DuckDBPyConnection) -> None:
    history(con)
    got = (
        run(con)
        .filter(pl.col("row_type") == "consumer")
        .select("env", "workload", "version", "active_version", "source", "since", "behind_since", "behind_days")
    )
    expected = pl.DataFrame(
        [
            ("staging", "checkout", 1, 3, "binding", D(2025, 12, 10), D(2026, 1, 1), 18.0),  # furthest behind first
            ("production", "checkout", 2, 3, "deployment", D(2026, 1, 8), D(2026, 1, 14), 5.0),
            ("production", "search", 2, 3, "deployment", D(2026, 1, 9, 12), D(2026, 1, 14), 5.0),
        ],
        schema={c: adoption.SCHEMA[c] for c in got.columns},
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_pins_with_the_days_they_have_left(con: duckdb.DuckDBPyConnection) -> None:
    history(con)
    got = (
        run(con)
        .filter(pl.col("row_type") == "pin")
        .select(
            "pin_id", "definition_id", "version", "workload", "pin_expires_at", "pin_expires_in_days", "expiring_soon"
        )
    )
    assert got.rows() == [
        ("later", "pg", 1, "checkout", D(2026, 3, 1), 41.0, False),
        ("soon", "pg", 1, "checkout", D(2026, 1, 25), 6.0, True),
    ]


def test_no_catalog_gives_the_documented_empty_frame(con: duckdb.DuckDBPyConnection) -> None:
    assert_frame_equal(run(con), pl.DataFrame(schema=adoption.SCHEMA))
    assert_frame_equal(run(duckdb.connect()), pl.DataFrame(schema=adoption.SCHEMA))
