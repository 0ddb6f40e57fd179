"""The analytics' fast paths held against their reference: the Polars pipeline over every interval."""

from __future__ import annotations

import duckdb
import polars as pl
from polars.testing import assert_frame_equal

from trellis.analytics import cost, utilization
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.prices import merged
from trellis.analytics.sources import Period, Sources


def assert_same_as_reference(con: duckdb.DuckDBPyConnection, period: Period) -> None:
    """Utilization and cost from the chunked SQL pass equal the reference Polars pipeline over every
    interval, to 1e-9."""
    config = AnalyticsConfig()
    fast = utilization.run(Sources(con), period, config)
    slow = utilization.run_in_polars(Sources(con), period, config)
    assert fast.height == slow.height > 0
    assert_frame_equal(fast, slow, rel_tol=1e-9, abs_tol=1e-9)
    prices = merged({})
    lines = cost._containers(Sources(con), period, prices)
    reference = cost._containers_in_polars(Sources(con), period, prices)
    keys = ["team", "workload", "environment", "day"]
    reference = reference.group_by(keys).agg(pl.all().sum()).sort(keys, nulls_last=True)
    assert_frame_equal(lines.select(reference.columns).sort(keys, nulls_last=True), reference, rel_tol=1e-9,
                       abs_tol=1e-9)  # fmt: skip
