"""Platform health: legacy against managed resources over time, dead inventory, most and least used types.

Rows by ``row_type``:

- ``legacy_share``: at each snapshot (every Monday inside the period and its end), consumers on legacy
  definitions (imported static ones, ``catalog_definitions.legacy``) against managed ones, and the
  definitions of each kind that existed then.
- ``definition``, ``version``, ``class``: every definition, every activated version that is not archived,
  and every (type, class) a current version offers, with its consumers at the period's end and whether it
  is *dead*: no consumer for ``dead_after_days`` days.
- ``type``: every resource type with its consumers and requests, ranked (1 = most consumers).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from trellis.analytics import consumers as c
from trellis.analytics.frames import TS, conform, days_of, empty, snapshots
from trellis.analytics.job import AnalyticsConfig, Job
from trellis.analytics.sources import Period, Sources

SCHEMA: dict[str, pl.DataType] = {
    "row_type": pl.String(),
    "snapshot_at": TS,
    "type": pl.String(),
    "class": pl.String(),
    "definition_id": pl.String(),
    "version": pl.Int64(),
    "legacy": pl.Boolean(),
    "consumers": pl.Int64(),
    "legacy_consumers": pl.Int64(),
    "managed_consumers": pl.Int64(),
    "legacy_share": pl.Float64(),
    "legacy_definitions": pl.Int64(),
    "managed_definitions": pl.Int64(),
    "definitions": pl.Int64(),
    "requests": pl.Int64(),
    "last_used_at": TS,
    "unused_since": TS,
    "idle_days": pl.Float64(),
    "dead": pl.Boolean(),
    "usage_rank": pl.Int64(),
}


def _legacy_share(state: pl.DataFrame, defs: pl.DataFrame, moments: list) -> pl.DataFrame:
    times = pl.DataFrame({"snapshot_at": moments}, schema={"snapshot_at": TS})
    used = (
        state.join(defs.select("definition_id", "legacy"), on="definition_id", how="inner")
        .group_by("snapshot_at")
        .agg(
            legacy_consumers=pl.col("legacy").sum(),
            managed_consumers=(~pl.col("legacy")).sum(),
        )
    )
    existing = (
        defs.join(times, how="cross")
        .filter(pl.col("created_at") < pl.col("snapshot_at"))
        .group_by("snapshot_at")
        .agg(legacy_definitions=pl.col("legacy").sum(), managed_definitions=(~pl.col("legacy")).sum())
    )
    frame = times.join(used, on="snapshot_at", how="left").join(existing, on="snapshot_at", how="left")
    counts = ["legacy_consumers", "managed_consumers", "legacy_definitions", "managed_definitions"]
    frame = frame.with_columns(pl.col(n).fill_null(0).cast(pl.Int64) for n in counts)
    total = pl.col("legacy_consumers") + pl.col("managed_consumers")
    return frame.with_columns(
        row_type=pl.lit("legacy_share"),
        consumers=total,
        legacy_share=pl.when(total > 0).then(pl.col("legacy_consumers") / total),
    )


def _usage(history: pl.DataFrame, at_end: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per key: consumers at the end, when a consumer last bound to it, and when one last left it."""
    previous = [f"previous_{k}" for k in keys]
    moves = history.with_columns(
        pl.col(k).shift(1).over(c.CONSUMER).alias(p) for k, p in zip(keys, previous, strict=True)
    )
    changed = pl.any_horizontal(pl.col(p).ne_missing(pl.col(k)) for k, p in zip(keys, previous, strict=True))
    left = (
        moves.filter(changed & pl.all_horizontal(pl.col(p).is_not_null() for p in previous))
        .group_by(previous)
        .agg(last_left_at=pl.col("at").max())
        .rename(dict(zip(previous, keys, strict=True)))
    )
    used = history.group_by(keys).agg(last_used_at=pl.col("at").max())
    now = at_end.group_by(keys).agg(consumers=pl.len())
    return used.join(left, on=keys, how="full", coalesce=True).join(now, on=keys, how="full", coalesce=True)


def _dead(frame: pl.DataFrame, born: str, period: Period, days: int) -> pl.DataFrame:
    """Dead: no consumer now, and none since ``days`` days before the end (nor since it was born)."""
    consumers = pl.col("consumers").fill_null(0).cast(pl.Int64)
    unused_since = pl.when(consumers == 0).then(pl.coalesce("last_left_at", "last_used_at", born))
    frame = frame.with_columns(consumers=consumers, unused_since=unused_since)
    limit = period.end - timedelta(days=days)
    return frame.with_columns(
        idle_days=days_of(pl.lit(period.end) - pl.col("unused_since")),
        dead=(pl.col("unused_since") <= limit).fill_null(False),
    )


def run(sources: Sources, period: Period, config: AnalyticsConfig) -> pl.DataFrame:
    defs = c.definitions(sources)
    version_rows = c.versions(sources)
    history = c.events(sources, period.end)
    moments = snapshots(period)
    state = c.state_at(history, moments)
    at_end = state.filter(pl.col("snapshot_at") == period.end)
    days = config.dead_after_days
    frames: list[pl.DataFrame] = []
    if not defs.is_empty() or not state.is_empty():
        frames.append(_legacy_share(state, defs, moments))

    existing = defs.filter(pl.col("created_at") < period.end)
    by_definition = existing.join(_usage(history, at_end, ["definition_id"]), on="definition_id", how="left")
    frames.append(_dead(by_definition, "created_at", period, days).with_columns(row_type=pl.lit("definition")))

    live = version_rows.filter(
        pl.col("activated_at").is_not_null() & (pl.col("activated_at") < period.end) & (pl.col("state") != "archived")
    )
    by_version = live.join(
        _usage(history, at_end, ["definition_id", "version"]), on=["definition_id", "version"], how="left"
    ).join(defs.select("definition_id", "legacy"), on="definition_id", how="left")
    frames.append(_dead(by_version, "activated_at", period, days).with_columns(row_type=pl.lit("version")))

    offered = (
        live.filter(pl.col("state") == "active")
        .explode("classes")
        .group_by("type", pl.col("classes").alias("class"))
        .agg(offered_since=pl.col("activated_at").min(), definitions=pl.col("definition_id").n_unique())
    )
    bound = history.filter(pl.col("source") == "binding")
    bound_end = c.state_at(bound, [period.end])
    by_class = offered.join(_usage(bound, bound_end, ["type", "class"]), on=["type", "class"], how="left")
    frames.append(_dead(by_class, "offered_since", period, days).with_columns(row_type=pl.lit("class")))

    frames.append(_types(defs, at_end, sources, period))
    frame = pl.concat([conform(f, SCHEMA) for f in frames if not f.is_empty()] or [empty(SCHEMA)], how="vertical")
    order = {"legacy_share": 0, "type": 1, "definition": 2, "version": 3, "class": 4}
    return frame.sort(
        pl.col("row_type").replace_strict(order, return_dtype=pl.Int32),
        "snapshot_at",
        "usage_rank",
        "type",
        "class",
        "definition_id",
        "version",
        nulls_last=False,
    )


def _types(defs: pl.DataFrame, at_end: pl.DataFrame, sources: Sources, period: Period) -> pl.DataFrame:
    requests = c.bindings(sources, period.start, period.end).group_by("type").agg(requests=pl.len())
    typed = at_end.join(defs.select("definition_id", pl.col("type").alias("def_type")), on="definition_id", how="left")
    consumers = (
        typed.with_columns(type=pl.coalesce("type", "def_type"))
        .drop_nulls("type")
        .group_by("type")
        .agg(consumers=pl.len())
    )
    counts = defs.group_by("type").agg(definitions=pl.len())
    types = pl.concat([counts.select("type"), consumers.select("type"), requests.select("type")]).unique()
    if types.is_empty():
        return empty(SCHEMA)
    frame = (
        types.join(counts, on="type", how="left")
        .join(consumers, on="type", how="left")
        .join(requests, on="type", how="left")
        .with_columns(pl.col("definitions", "consumers", "requests").fill_null(0).cast(pl.Int64))
        .sort(["consumers", "requests", "type"], descending=[True, True, False])
    )
    return frame.with_columns(
        row_type=pl.lit("type"),
        snapshot_at=pl.lit(period.end).cast(TS),
        usage_rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
    )


JOB = Job(
    "platform_health",
    "Legacy against managed resources over time, dead inventory, most and least used types",
    run,
    reads_catalog=True,
)
