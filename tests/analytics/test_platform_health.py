"""trellis/analytics/platform_health.py: legacy against managed over time, dead inventory, most and least used types."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
from polars.testing import assert_frame_equal

from tests.analytics.conftest import binding, definition, insert, version
from tests.analytics.scenarios import TWO_WEEKS
from trellis.analytics import platform_health
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.sources import Sources

D = datetime
DEC1 = D(2025, 12, 1)
JAN12, JAN19 = D(2026, 1, 12), D(2026, 1, 19)


def catalog(con: duckdb.DuckDBPyConnection) -> None:
    """checkout moves from the legacy postgres to pg v2 on Jan 8; cart stays on the legacy one; search moves from
    pg v1 to v2 on Jan 2. Nobody ever used old-redis; new-s3 is four days old at the end."""
    insert(
        con,
        "catalog_definitions",
        [
            definition("pg", "postgres", DEC1),
            definition("legacy-pg", "postgres", DEC1, legacy=True),
            definition("old-redis", "redis", DEC1),
            definition("new-s3", "s3", D(2026, 1, 15)),
        ],
    )
    insert(
        con,
        "catalog_versions",
        [
            version("pg", 1, DEC1, "deprecated"),
            version("pg", 2, D(2026, 1, 1), classes=("default", "large")),
            version("legacy-pg", 1, DEC1),
            version("old-redis", 1, DEC1, type_="redis"),
            version("new-s3", 1, D(2026, 1, 15), type_="s3"),
            version("pg", 3, None, "proposed"),
        ],
    )
    insert(
        con,
        "catalog_bindings",
        [
            binding("checkout", "db", "legacy-pg", 1, D(2025, 12, 10)),
            binding("cart", "db", "legacy-pg", 1, D(2025, 12, 10)),
            binding("search", "db", "pg", 1, D(2025, 12, 5)),
            binding("search", "db", "pg", 2, D(2026, 1, 2)),
            binding("checkout", "db", "pg", 2, D(2026, 1, 8)),
        ],
    )


def run(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return platform_health.run(Sources(con), TWO_WEEKS, AnalyticsConfig(dead_after_days=7))


def rows(frame: pl.DataFrame, row_type: str, *columns: str) -> pl.DataFrame:
    return frame.filter(pl.col("row_type") == row_type).select(columns)


def test_legacy_against_managed_over_time(con: duckdb.DuckDBPyConnection) -> None:
    catalog(con)
    got = rows(run(con), "legacy_share", "snapshot_at", "consumers", "legacy_consumers", "managed_consumers",
               "legacy_share", "legacy_definitions", "managed_definitions")  # fmt: skip
    assert got.rows() == [(JAN12, 3, 1, 2, 1 / 3, 1, 2), (JAN19, 3, 1, 2, 1 / 3, 1, 3)]


def test_dead_inventory(con: duckdb.DuckDBPyConnection) -> None:
    catalog(con)
    frame = run(con)
    definitions = rows(frame, "definition", "definition_id", "consumers", "unused_since", "idle_days", "dead")
    assert definitions.rows() == [
        ("legacy-pg", 1, None, None, False),  # by type, then id
        ("pg", 2, None, None, False),
        ("old-redis", 0, DEC1, 49.0, True),
        ("new-s3", 0, D(2026, 1, 15), 4.0, False),  # younger than seven days
    ]
    versions = rows(frame, "version", "definition_id", "version", "consumers", "unused_since", "dead")
    assert versions.rows() == [
        ("legacy-pg", 1, 1, None, False),
        ("pg", 1, 0, D(2026, 1, 2), True),  # search left it on Jan 2
        ("pg", 2, 2, None, False),
        ("old-redis", 1, 0, DEC1, True),
        ("new-s3", 1, 0, D(2026, 1, 15), False),
    ]
    classes = rows(frame, "class", "type", "class", "definitions", "consumers", "unused_since", "dead")
    assert classes.rows() == [
        ("postgres", "default", 2, 3, None, False),
        ("postgres", "large", 1, 0, D(2026, 1, 1), True),
        ("redis", "default", 1, 0, DEC1, True),
        ("s3", "default", 1, 0, D(2026, 1, 15), False),
    ]


def test_types_ranked_from_most_to_least_used(con: duckdb.DuckDBPyConnection) -> None:
    catalog(con)
    got = rows(run(con), "type", "usage_rank", "type", "definitions", "consumers", "requests")
    assert got.rows() == [(1, "postgres", 2, 3, 1), (2, "redis", 1, 0, 0), (3, "s3", 1, 0, 0)]


def test_no_catalog_gives_the_documented_empty_frame(con: duckdb.DuckDBPyConnection) -> None:
    assert_frame_equal(run(con), pl.DataFrame(schema=platform_health.SCHEMA))
    assert_frame_equal(run(duckdb.connect()), pl.DataFrame(schema=platform_health.SCHEMA))
