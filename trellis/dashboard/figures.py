"""The rows of the jobs' answers that the pages draw, picked and named the same way on every page."""

from __future__ import annotations

import polars as pl


def _group(level: str) -> pl.Expr:
    if level == "workload":
        return pl.concat_str("service_namespace", pl.lit("/"), "service_name", pl.lit(" · "), "environment")
    if level == "team":
        return pl.concat_str("service_namespace", pl.lit(" · "), "environment")
    return pl.col("environment")


def dora_rows(frame: pl.DataFrame, level: str, bucket: str) -> pl.DataFrame:
    """The DORA answer's rows of one level and bucket, each named by its group (``grp``)."""
    rows = frame.filter((pl.col("level") == level) & (pl.col("bucket") == bucket))
    return rows.with_columns(_group(level).alias("grp")).sort("grp", "bucket_start")


def latest_snapshot(frame: pl.DataFrame, row_type: str) -> pl.DataFrame:
    """An answer's rows of one kind at its last snapshot (adoption, platform health)."""
    rows = frame.filter(pl.col("row_type") == row_type)
    if rows.height == 0:
        return rows
    return rows.filter(pl.col("snapshot_at") == rows["snapshot_at"].max())


__all__ = ["dora_rows", "latest_snapshot"]
