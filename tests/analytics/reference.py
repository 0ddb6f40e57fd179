"""The analytics' fast paths held against their reference: the Polars pipeline over every interval."""

from __future__ import annotations

import duckdb
import polars as pl
from polars.testing import assert_frame_equal

from trellis.analytics import cost, utilization
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.prices import merged
from trellis.analytics.sources import Period, Sources

SKETCHED = ["usage_p50", "usage_p95", "recommended_request", "recommended_change"]
"""Utilization's columns made from the sketches' percentiles."""


def assert_same_utilization(fast: pl.DataFrame, exact: pl.DataFrame) -> None:
    """Utilization equal to the reference's to 1e-9, and its percentiles (and what is made of them) within
    the sketches' accuracy of the exact ones."""
    assert_frame_equal(fast.drop(SKETCHED), exact.drop(SKETCHED), rel_tol=1e-9, abs_tol=1e-9)
    accuracy = utilization.PERCENTILE_ACCURACY
    for got, want in zip(fast.iter_rows(named=True), exact.iter_rows(named=True), strict=True):
        for column in SKETCHED[:3]:
            assert (got[column] is None) == (want[column] is None), column
            if want[column] is not None:
                assert abs(got[column] - want[column]) <= accuracy * abs(want[column]) + 1e-12, (column, got, want)
        if want["recommended_change"] is not None:  # a request less the recommendation: off by as much as it
            error = abs(got["recommended_change"] - want["recommended_change"])
            assert error <= accuracy * abs(want["recommended_request"]) + 1e-12, (got, want)


def assert_same_as_reference(con: duckdb.DuckDBPyConnection, period: Period) -> None:
    """Utilization and cost from the chunked SQL pass equal the reference Polars pipeline over every
    interval, to 1e-9."""
    config = AnalyticsConfig()
    fast = utilization.run(Sources(con), period, config)
    slow = utilization.run_in_polars(Sources(con), period, config)
    assert fast.height == slow.height > 0
    assert_same_utilization(fast, slow)
    prices = merged({})
    lines = cost._containers(Sources(con), period, prices)
    reference = cost._containers_in_polars(Sources(con), period, prices)
    keys = ["team", "workload", "environment", "day"]
    reference = reference.group_by(keys).agg(pl.all().sum()).sort(keys, nulls_last=True)
    assert_frame_equal(lines.select(reference.columns).sort(keys, nulls_last=True), reference, rel_tol=1e-9,
                       abs_tol=1e-9)  # fmt: skip
