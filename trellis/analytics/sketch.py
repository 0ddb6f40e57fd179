"""Percentile sketches: a sample's bucket, and a quantile from the merged buckets of many samples.

A bucket stands for the samples within a relative distance of ``ACCURACY`` of one value (buckets grow
geometrically, by ``GAMMA``): its key is a small integer, and the counts of any hours, series or groups add
up. A quantile read from merged buckets is within ``ACCURACY`` of the exact one (relative), whatever the
number of samples: the sample at each rank is in a known bucket, whose value is within ``ACCURACY`` of
every sample in it, and interpolating between two ranks keeps that bound. The buckets are the same as
DDSketch's (Masson, Rim and Lee, VLDB 2019); the key also carries the sign, and values closer to zero than
``SMALLEST`` share the key 0, which stands for 0.
"""

from __future__ import annotations

import math

import polars as pl

ACCURACY = 0.01
"""Most relative error of a quantile read from the buckets."""
GAMMA = (1 + ACCURACY) / (1 - ACCURACY)
SMALLEST = 1e-9
"""Values of a smaller magnitude count as 0 (nanocores, bytes below one)."""
_LOG_GAMMA = math.log(GAMMA)
_OFFSET = -math.ceil(math.log(SMALLEST) / _LOG_GAMMA) + 1
"""Added to a bucket's exponent so that every magnitude from SMALLEST up has a positive key."""
_HIGHEST = 2**15 - 1
"""Keys fit a SMALLINT: magnitudes up to GAMMA ** (_HIGHEST - _OFFSET), about 1e133, keep their bucket."""


def bucket(value: pl.Expr) -> pl.Expr:
    """The key (Int16) of each value's bucket: 0 for values near 0, else the sign times 1 + how many times
    GAMMA the magnitude is above SMALLEST, rounded up."""
    magnitude = value.abs()
    exponent = (magnitude.log() / _LOG_GAMMA).ceil() + _OFFSET
    key = exponent.clip(1, _HIGHEST) * value.sign()
    return pl.when(magnitude < SMALLEST).then(0).otherwise(key).cast(pl.Int16)


def value(key: pl.Expr) -> pl.Expr:
    """The value a bucket stands for: within ACCURACY of every value in it."""
    exponent = key.abs().cast(pl.Float64) - _OFFSET
    middle = 2.0 * (exponent * _LOG_GAMMA).exp() / (GAMMA + 1.0)
    return pl.when(key == 0).then(0.0).otherwise(middle * key.sign().cast(pl.Float64))


def quantiles(counts: pl.DataFrame, group: str, fractions: dict[str, float]) -> pl.DataFrame:
    """Per ``group``, from the rows' ``bucket`` and ``count`` (a bucket may repeat): a column per name in
    ``fractions`` with that quantile, interpolated between ranks as ``quantile_cont`` does."""
    merged = (
        counts.group_by(group, "bucket")
        .agg(pl.col("count").sum())
        .with_columns(value=value(pl.col("bucket")))
        .sort(group, "value")
        .with_columns(last=pl.col("count").cum_sum().over(group) - 1, total=pl.col("count").sum().over(group))
    )
    columns = []
    for name, fraction in fractions.items():
        rank = (pl.col("total").first() - 1).cast(pl.Float64) * fraction
        low, high = _at(rank.floor()), _at(rank.ceil())
        columns.append((low + (high - low) * (rank - rank.floor())).alias(name))
    return merged.group_by(group).agg(columns)


def _at(rank: pl.Expr) -> pl.Expr:
    """Within a group sorted by value: the value of the sample at ``rank`` (0-based), the value of the first
    bucket whose last rank reaches it."""
    return pl.col("value").filter(pl.col("last") >= rank).first()


__all__ = ["ACCURACY", "bucket", "quantiles", "value"]
