"""trellis/analytics/cost.py:

Max(request, usage) x price per container, idle apart, catalog resources split by consumer.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
from polars.testing import assert_frame_equal

from tests.analytics.conftest import binding, insert
from tests.analytics.scenarios import HOUR, containers
from trellis.analytics import cost
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.prices import DEFAULT_PRICES
from trellis.analytics.sources import Period, Sources

PRICES = {"cpu_core_hour": 2.0, "memory_gib_hour": 0.5, "postgres/large": 3.0, "redis": 0.5}
CONFIG = AnalyticsConfig(prices=PRICES, currency="EUR")


def run(con: duckdb.DuckDBPyConnection, config: AnalyticsConfig = CONFIG, period: Period = HOUR) -> pl.DataFrame:
    return cost.run(Sources(con), period, config)


def catalog(con: duckdb.DuckDBPyConnection) -> None:
    """'over' has a private large postgres since 10:00; both share a redis bound since 09:00."""
    insert(
        con,
        "catalog_bindings",
        [
            binding("over", "db", "pg-large", 2, datetime(2026, 1, 5, 10), class_="large"),
            binding("over", "cache", "redis-shared", 1, datetime(2026, 1, 5, 9), type_="redis", res_id="shared.cache"),
            binding("under", "cache", "redis-shared", 1, datetime(2026, 1, 5, 9), type_="redis", res_id="shared.cache"),
        ],
    )


COLUMNS = ["cpu_core_hours", "memory_gib_hours", "cpu_cost", "memory_cost", "resource_cost", "idle_cpu_cost",
           "idle_memory_cost", "idle_cost", "total_cost"]  # fmt: skip


def test_containers_cost_the_larger_of_request_and_usage_with_idle_apart(con: duckdb.DuckDBPyConnection) -> None:
    """For one hour: 'over' requests 1 core and 1 GiB and uses a quarter of each: it pays for the request, and
    three quarters of it are idle. 'under' requests half and uses 1 core and 1 GiB: it pays for its usage."""
    containers(con)
    frame = run(con).filter(pl.col("level") == "workload", pl.col("bucket") == "period")
    got = frame.select("workload", "currency", *COLUMNS)
    expected = pl.DataFrame(
        [
            ("over", "EUR", 1.0, 1.0, 2.0, 0.5, 0.0, 1.5, 0.375, 1.875, 2.5),
            ("under", "EUR", 1.0, 1.0, 2.0, 0.5, 0.0, 0.0, 0.0, 0.0, 2.5),
        ],
        schema={c: cost.SCHEMA[c] for c in got.columns},
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_catalog_resources_cost_their_type_and_class_split_among_consumers(con: duckdb.DuckDBPyConnection) -> None:
    containers(con)
    catalog(con)
    frame = run(con)
    whole = frame.filter(pl.col("bucket") == "period")
    workloads = whole.filter(pl.col("level") == "workload").select("workload", "resource_hours", "resource_cost")
    assert workloads.rows() == [("over", 1.5, 3.25), ("under", 0.5, 0.25)]  # 3.0 postgres + half of 0.5 redis
    definitions = whole.filter(pl.col("level") == "definition").select("definition_id", "resource_cost", "cpu_cost")
    assert definitions.rows() == [("pg-large", 3.0, 0.0), ("redis-shared", 0.5, 0.0)]
    team = whole.filter(pl.col("level") == "team").row(0, named=True)
    assert (team["team"], team["total_cost"], team["idle_cost"]) == ("shop", 8.5, 1.875)
    environment = whole.filter(pl.col("level") == "environment").row(0, named=True)
    assert (environment["environment"], environment["total_cost"]) == ("production", 8.5)
    days = frame.filter(pl.col("bucket") == "day", pl.col("level") == "team")
    assert days.select("bucket_start", "bucket_end", "total_cost").rows() == [(HOUR.start, HOUR.end, 8.5)]


def test_default_prices_are_opencosts(con: duckdb.DuckDBPyConnection) -> None:
    containers(con)
    row = run(con, AnalyticsConfig()).filter(pl.col("level") == "team", pl.col("bucket") == "period").row(0, named=True)
    assert row["currency"] == "USD"
    assert row["cpu_cost"] == DEFAULT_PRICES["cpu_core_hour"] * 2  # a core-hour each
    assert row["memory_cost"] == DEFAULT_PRICES["memory_gib_hour"] * 2


def test_days_split_a_resource_that_exists_across_midnight(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "catalog_bindings", [binding("api", "db", "pg", 1, datetime(2026, 1, 5, 18))])
    frame = run(con, period=Period(datetime(2026, 1, 5), datetime(2026, 1, 7)))
    days = frame.filter(pl.col("level") == "workload", pl.col("bucket") == "day")
    assert days.select("bucket_start", "resource_hours", "resource_cost").rows() == [
        (datetime(2026, 1, 5), 6.0, 6.0 * 0.10),
        (datetime(2026, 1, 6), 24.0, 24.0 * 0.10),
    ]


def test_no_data_gives_the_documented_empty_frame(con: duckdb.DuckDBPyConnection) -> None:
    assert_frame_equal(run(con), pl.DataFrame(schema=cost.SCHEMA))
    assert_frame_equal(run(duckdb.connect()), pl.DataFrame(schema=cost.SCHEMA))
