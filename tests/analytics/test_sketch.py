"""trellis/analytics/sketch.py: quantiles read from merged buckets are within the stated accuracy of the
exact ones, whatever the values' spread, sign and count, and however the buckets were split and merged."""

from __future__ import annotations

import math
import random

import polars as pl
import pytest

from trellis.analytics import sketch

FRACTIONS = {"p0": 0.0, "p10": 0.1, "p50": 0.5, "p95": 0.95, "p99": 0.99, "p100": 1.0}


def _values(rng: random.Random) -> list[float]:
    count = rng.choice([1, 2, 3, 20, 500, 5000])
    draw = rng.choice(
        [
            lambda: rng.lognormvariate(0, 3),  # bytes, cores: many orders of magnitude
            lambda: rng.uniform(0.001, 4.0),
            lambda: rng.uniform(-3.0, 3.0),  # negative values keep their sign
            lambda: rng.choice([0.0, 0.0, 1e-12, 2.5]),  # zeros and values too small to tell from zero
            lambda: 0.25,  # a constant
        ]
    )
    return [draw() for _ in range(count)]


@pytest.mark.parametrize("seed", range(40))
def test_quantiles_from_merged_buckets_are_within_the_accuracy_of_the_exact_ones(seed: int) -> None:
    rng = random.Random(seed)
    groups = {group: _values(rng) for group in range(3)}
    rows = [(group, value, rng.randrange(4)) for group, values in groups.items() for value in values]
    samples = pl.DataFrame(rows, schema={"group": pl.Int64, "value": pl.Float64, "part": pl.Int64}, orient="row")
    # Counted in parts (as hours or series are), then merged by ``quantiles``.
    counts = samples.group_by("group", "part", bucket=sketch.bucket(pl.col("value"))).agg(count=pl.len())

    got = sketch.quantiles(counts, "group", FRACTIONS).sort("group")
    exact = (
        samples.group_by("group")
        .agg(pl.col("value").quantile(fraction, "linear").alias(name) for name, fraction in FRACTIONS.items())
        .sort("group")
    )

    for approximate, want in zip(got.iter_rows(named=True), exact.iter_rows(named=True), strict=True):
        for name in FRACTIONS:
            # Within ACCURACY of the two samples the quantile lies between: of the quantile itself when they
            # have one sign (usage never is negative).
            bound = sketch.ACCURACY * max(abs(want[name]), _neighbours(groups[want["group"]], FRACTIONS[name]))
            assert abs(approximate[name] - want[name]) <= bound + sketch.SMALLEST, (name, approximate, want)


def _neighbours(values: list[float], fraction: float) -> float:
    """The larger magnitude of the two samples a quantile interpolates between."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    return max(abs(ordered[math.floor(rank)]), abs(ordered[math.ceil(rank)]))


def test_buckets_are_ordered_as_their_values() -> None:
    values = [-1e6, -2.0, -1e-3, 0.0, 1e-10, 1e-3, 0.5, 1.0, 1.02, 3e9, 1e300]
    keys = pl.DataFrame({"v": values}).select(key=sketch.bucket(pl.col("v")))["key"].to_list()
    assert keys == sorted(keys)
    assert keys[3] == keys[4] == 0  # zero, and a value too small to tell from it
    assert keys[-1] == 2**15 - 1  # beyond the highest bucket: kept in it
