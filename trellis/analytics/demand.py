"""Demand: which resource types and classes teams ask for, what the catalog could not serve, and how often
a request falls back to the ``default`` class.

Every resolution of a resource is a *request*: a binding when a definition matched, a miss
(``catalog_misses``) when none did. A resource that names no class is resolved as class ``default``, so the
requests on ``default`` are the fallbacks (the catalog records a class left out and ``class: default`` alike).
"""

from __future__ import annotations

import polars as pl

from trellis.analytics import consumers as c
from trellis.analytics.frames import TS, conform, empty, utc_naive
from trellis.analytics.job import AnalyticsConfig, Job
from trellis.analytics.sources import Period, Sources

SCHEMA: dict[str, pl.DataType] = {
    "level": pl.String(),
    "app": pl.String(),
    "type": pl.String(),
    "class": pl.String(),
    "requests": pl.Int64(),
    "resolved": pl.Int64(),
    "misses": pl.Int64(),
    "miss_share": pl.Float64(),
    "default_requests": pl.Int64(),
    "default_share": pl.Float64(),
    "consumers": pl.Int64(),
    "environments": pl.Int64(),
    "definitions": pl.Int64(),
    "first_requested_at": TS,
    "last_requested_at": TS,
    "last_miss_reason": pl.String(),
}

LEVELS = {"team_combo": ["app", "type", "class"], "combo": ["type", "class"], "team": ["app"]}


def _requests(sources: Sources, period: Period) -> pl.DataFrame:
    bound = c.bindings(sources, period.start, period.end).select(
        "app", "env", "workload", "resource", "type", "class", "definition_id", "at", reason=pl.lit(None, pl.String)
    )
    if not sources.has("catalog_misses"):
        return bound.with_columns(missed=pl.lit(False))
    missed = sources.scan("catalog_misses", window=("missed_at", period.start, period.end)).select(
        "app", "env", "workload", "resource", "type", "class", "reason", at="missed_at"
    )
    missed_frame = utc_naive(missed, ["at"]).collect().with_columns(definition_id=pl.lit(None, pl.String))
    return pl.concat(
        [bound.with_columns(missed=pl.lit(False)), missed_frame.with_columns(missed=pl.lit(True))],
        how="diagonal_relaxed",
    )


def run(sources: Sources, period: Period, config: AnalyticsConfig) -> pl.DataFrame:
    requests = _requests(sources, period)
    if requests.is_empty():
        return empty(SCHEMA)
    requests = requests.with_columns(
        consumer=pl.concat_str("app", "env", "workload", "resource", separator="\x1f"),
        is_default=pl.col("class") == "default",
    ).sort("at")
    frames = []
    for level, keys in LEVELS.items():
        frame = requests.group_by(keys).agg(
            requests=pl.len(),
            resolved=(~pl.col("missed")).sum(),
            misses=pl.col("missed").sum(),
            default_requests=pl.col("is_default").sum(),
            consumers=pl.col("consumer").n_unique(),
            environments=pl.col("env").n_unique(),
            definitions=pl.col("definition_id").drop_nulls().n_unique(),
            first_requested_at=pl.col("at").min(),
            last_requested_at=pl.col("at").max(),
            last_miss_reason=pl.col("reason").drop_nulls().last(),
        )
        frames.append(
            frame.with_columns(
                level=pl.lit(level),
                miss_share=pl.col("misses") / pl.col("requests"),
                default_share=pl.col("default_requests") / pl.col("requests"),
            )
        )
    order = {level: n for n, level in enumerate(LEVELS)}
    frame = pl.concat([conform(f, SCHEMA) for f in frames], how="vertical")
    return frame.sort(
        pl.col("level").replace_strict(order, return_dtype=pl.Int32), "app", "type", "class", nulls_last=False
    )


JOB = Job(
    "demand",
    "Requested resource types and classes per team, misses and fallbacks to the default class",
    run,
    reads_catalog=True,
)
