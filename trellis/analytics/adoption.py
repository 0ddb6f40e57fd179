"""Adoption: how many consumers each definition version has over time, who lags behind, and which pins expire.

Three kinds of rows (``row_type``): ``version`` rows count consumers per definition and version at each
snapshot (every Monday inside the period and its end); ``consumer`` rows list, at the period's end, each
consumer on an older version than the active one and since when it has been behind; ``pin`` rows list the
catalog's pins with how many days they have left.
"""

from __future__ import annotations

import polars as pl

from trellis.analytics import consumers as c
from trellis.analytics.frames import TS, conform, days_of, empty, snapshots, utc_naive
from trellis.analytics.job import AnalyticsConfig, Job
from trellis.analytics.sources import Period, Sources

SCHEMA: dict[str, pl.DataType] = {
    "row_type": pl.String(),
    "snapshot_at": TS,
    "definition_id": pl.String(),
    "version": pl.Int64(),
    "active_version": pl.Int64(),
    "is_active": pl.Boolean(),
    "consumers": pl.Int64(),
    "share_of_consumers": pl.Float64(),
    "share_on_active": pl.Float64(),
    "app": pl.String(),
    "env": pl.String(),
    "workload": pl.String(),
    "resource": pl.String(),
    "source": pl.String(),
    "since": TS,
    "behind_since": TS,
    "behind_days": pl.Float64(),
    "pin_id": pl.String(),
    "pin_expires_at": TS,
    "pin_expires_in_days": pl.Float64(),
    "expiring_soon": pl.Boolean(),
    "pin_owner": pl.String(),
    "pin_reason": pl.String(),
}


def _version_rows(state: pl.DataFrame, active: pl.DataFrame) -> pl.DataFrame:
    counts = state.group_by(["snapshot_at", "definition_id", "version"]).agg(consumers=pl.len())
    counts = (
        counts.join(
            active.rename({"active_version": "version"}).with_columns(consumers=pl.lit(0, dtype=pl.UInt32)),
            on=["snapshot_at", "definition_id", "version"],
            how="full",
            coalesce=True,
        )
        .with_columns(consumers=pl.coalesce("consumers", "consumers_right").cast(pl.Int64))
        .drop("consumers_right")
    )
    counts = counts.join(active, on=["snapshot_at", "definition_id"], how="left")
    total = pl.col("consumers").sum().over(["snapshot_at", "definition_id"])
    on_active = pl.col("consumers").filter(pl.col("version") == pl.col("active_version")).sum()
    return counts.with_columns(
        row_type=pl.lit("version"),
        is_active=(pl.col("version") == pl.col("active_version")).fill_null(False),
        share_of_consumers=pl.when(total > 0).then(pl.col("consumers") / total),
        share_on_active=pl.when((total > 0) & pl.col("active_version").is_not_null()).then(
            on_active.over(["snapshot_at", "definition_id"]) / total
        ),
    )


def _consumer_rows(
    state: pl.DataFrame, active: pl.DataFrame, version_rows: pl.DataFrame, period: Period
) -> pl.DataFrame:
    at_end = state.filter(pl.col("snapshot_at") == period.end).join(
        active, on=["snapshot_at", "definition_id"], how="inner"
    )
    behind = at_end.filter(pl.col("version") < pl.col("active_version"))
    newer = (
        behind.select("definition_id", "version")
        .unique()
        .join(
            version_rows.filter(pl.col("activated_at").is_not_null() & (pl.col("activated_at") < period.end)),
            on="definition_id",
            suffix="_newer",
        )
        .filter(pl.col("version_newer") > pl.col("version"))
        .group_by("definition_id", "version")
        .agg(behind_since=pl.col("activated_at").min())
    )
    return behind.join(newer, on=["definition_id", "version"], how="left").with_columns(
        row_type=pl.lit("consumer"),
        is_active=pl.lit(False),
        since=pl.col("at"),
        behind_days=days_of(pl.lit(period.end) - pl.col("behind_since")),
    )


def _pin_rows(sources: Sources, period: Period, config: AnalyticsConfig) -> pl.DataFrame:
    if not sources.has("catalog_objects"):
        return empty(SCHEMA)
    pins = sources.scan("catalog_objects").filter(pl.col("kind") == "Pin").select("id", "spec").collect()
    if pins.is_empty():
        return empty(SCHEMA)
    spec_type = pl.Struct(
        {
            "app": pl.String(),
            "env": pl.String(),
            "workload": pl.String(),
            "resource": pl.String(),
            "definition": pl.String(),
            "version": pl.Int64(),
            "reason": pl.String(),
            "owner": pl.String(),
            "expires": pl.String(),
        }
    )
    frame = pins.with_columns(spec=pl.col("spec").str.json_decode(spec_type)).unnest("spec")
    expires = pl.col("expires").str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
    frame = utc_naive(frame.with_columns(pin_expires_at=expires).lazy(), ["pin_expires_at"]).collect()
    left = days_of(pl.col("pin_expires_at") - pl.lit(period.end))
    return frame.select(
        row_type=pl.lit("pin"),
        snapshot_at=pl.lit(period.end).cast(TS),
        definition_id="definition",
        version="version",
        app="app",
        env="env",
        workload="workload",
        resource="resource",
        pin_id="id",
        pin_expires_at="pin_expires_at",
        pin_expires_in_days=left,
        expiring_soon=left <= config.pin_warning_days,
        pin_owner="owner",
        pin_reason="reason",
    )


def run(sources: Sources, period: Period, config: AnalyticsConfig) -> pl.DataFrame:
    moments = snapshots(period)
    history = c.events(sources, period.end)
    version_rows = c.versions(sources)
    active = c.active_versions(version_rows, moments)
    state = c.state_at(history, moments)
    frames = [_pin_rows(sources, period, config)]
    if not state.is_empty() or not active.is_empty():
        frames.insert(0, _version_rows(state, active))
    if not state.is_empty() and not active.is_empty():
        frames.insert(1, _consumer_rows(state, active, version_rows, period))
    frame = pl.concat([conform(f, SCHEMA) for f in frames], how="vertical")
    order = {"version": 0, "consumer": 1, "pin": 2}
    return frame.sort(
        pl.col("row_type").replace_strict(order, return_dtype=pl.Int32),
        "snapshot_at",
        "definition_id",
        "version",
        "app",
        "env",
        "workload",
        "resource",
        "pin_id",
        nulls_last=False,
    )


JOB = Job(
    "adoption",
    "Consumers per definition version over time, laggards behind the active version, pins",
    run,
    reads_catalog=True,
)
