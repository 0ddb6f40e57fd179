"""trellis/analytics/demand.py: requested types and classes per team, misses and fallbacks to the default class."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
from polars.testing import assert_frame_equal

from tests.analytics.conftest import binding, insert, miss
from tests.analytics.scenarios import TWO_WEEKS
from trellis.analytics import demand
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.sources import Sources

D = datetime


def requests(con: duckdb.DuckDBPyConnection) -> None:
    insert(
        con,
        "catalog_bindings",
        [
            binding("checkout", "db", "pg", 1, D(2026, 1, 1)),  # before the period
            binding("checkout", "db", "pg", 1, D(2026, 1, 6)),
            binding("checkout", "db", "pg", 1, D(2026, 1, 8)),
            binding("cart", "cache", "redis-large", 1, D(2026, 1, 7), type_="redis", class_="large"),
            binding("etl", "db", "pg", 1, D(2026, 1, 10), app="data"),
        ],
    )
    insert(
        con,
        "catalog_misses",
        [
            miss("search", "db", D(2026, 1, 9), class_="xl"),
            miss("search", "db", D(2026, 1, 9, 1), class_="xl"),
            miss("etl", "bucket", D(2026, 1, 10), type_="s3", app="data"),
        ],
    )


def run(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return demand.run(Sources(con), TWO_WEEKS, AnalyticsConfig())


def test_requests_misses_and_default_fallbacks_per_team(con: duckdb.DuckDBPyConnection) -> None:
    requests(con)
    frame = run(con)
    columns = ["level", "app", "type", "class", "requests", "resolved", "misses", "miss_share", "default_requests",
               "default_share", "consumers", "definitions"]  # fmt: skip
    expected = pl.DataFrame(
        [
            ("team_combo", "data", "postgres", "default", 1, 1, 0, 0.0, 1, 1.0, 1, 1),
            ("team_combo", "data", "s3", "default", 1, 0, 1, 1.0, 1, 1.0, 1, 0),
            ("team_combo", "shop", "postgres", "default", 2, 2, 0, 0.0, 2, 1.0, 1, 1),
            ("team_combo", "shop", "postgres", "xl", 2, 0, 2, 1.0, 0, 0.0, 1, 0),
            ("team_combo", "shop", "redis", "large", 1, 1, 0, 0.0, 0, 0.0, 1, 1),
            ("combo", None, "postgres", "default", 3, 3, 0, 0.0, 3, 1.0, 2, 1),
            ("combo", None, "postgres", "xl", 2, 0, 2, 1.0, 0, 0.0, 1, 0),
            ("combo", None, "redis", "large", 1, 1, 0, 0.0, 0, 0.0, 1, 1),
            ("combo", None, "s3", "default", 1, 0, 1, 1.0, 1, 1.0, 1, 0),
            ("team", "data", None, None, 2, 1, 1, 0.5, 2, 1.0, 2, 1),
            ("team", "shop", None, None, 5, 3, 2, 0.4, 2, 0.4, 3, 2),
        ],
        schema={c: demand.SCHEMA[c] for c in columns},
        orient="row",
    )
    assert_frame_equal(frame.select(columns), expected)
    xl = frame.filter(pl.col("class") == "xl", pl.col("level") == "team_combo").row(0, named=True)
    assert xl["last_miss_reason"].startswith("resource db: no definition of type postgres and class xl")
    assert (xl["first_requested_at"], xl["last_requested_at"]) == (D(2026, 1, 9), D(2026, 1, 9, 1))


def test_no_catalog_gives_the_documented_empty_frame(con: duckdb.DuckDBPyConnection) -> None:
    assert_frame_equal(run(con), pl.DataFrame(schema=demand.SCHEMA))
    assert_frame_equal(run(duckdb.connect()), pl.DataFrame(schema=demand.SCHEMA))
