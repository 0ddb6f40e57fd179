"""Who consumes which catalog definition and version, and since when.

A *consumer* is one resource of one workload in one app and environment: ``(app, env, workload, resource)``.
Its history is its bindings (``catalog_bindings``: each resolution) and its successful deployments
(``deployments.resources``: ``name=definition@version``, with app = ``service_namespace``, env =
``environment``, workload = ``service_name``). At any moment a consumer uses what its latest event says,
like ``trellis resources convergence``; when a binding and a deployment share a moment, the deployment wins.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from trellis.analytics.frames import TS, shaped, utc_naive
from trellis.analytics.sources import Sources

CONSUMER = ["app", "env", "workload", "resource"]

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "app": pl.String(),
    "env": pl.String(),
    "workload": pl.String(),
    "resource": pl.String(),
    "res_id": pl.String(),
    "type": pl.String(),
    "class": pl.String(),
    "definition_id": pl.String(),
    "version": pl.Int64(),
    "pinned": pl.Boolean(),
    "source": pl.String(),
    "at": pl.Datetime("ns"),
}


def bindings(sources: Sources, start: datetime | None, end: datetime) -> pl.DataFrame:
    """Bindings resolved in [start, end) (from the beginning when start is None), as events."""
    if not sources.has("catalog_bindings"):
        return pl.DataFrame(schema=EVENT_SCHEMA)
    frame = (
        sources.scan("catalog_bindings", window=("resolved_at", start, end))
        .select(*CONSUMER, "res_id", "type", "class", "definition_id", "version", "pinned", at="resolved_at")
        .with_columns(source=pl.lit("binding"))
    )
    return shaped(utc_naive(frame, ["at"]).collect(), EVENT_SCHEMA)


def deployed(sources: Sources, end: datetime) -> pl.DataFrame:
    """The resources of successful deployments finished before ``end``, as events."""
    if not sources.has("deployments"):
        return pl.DataFrame(schema=EVENT_SCHEMA)
    scan = (
        sources.scan("deployments", window=("finished_at", None, end))
        .filter((pl.col("status") == "succeeded") & pl.col("resources").is_not_null())
        .select(
            app="service_namespace", env="environment", workload="service_name", at="finished_at", entry="resources"
        )
    )
    frame = utc_naive(scan, ["at"]).collect().explode("entry").drop_nulls("entry")
    parts = pl.col("entry").str.split_exact("=", 1)
    target = parts.struct.field("field_1").str.split_exact("@", 1)
    events = frame.with_columns(
        resource=parts.struct.field("field_0"),
        definition_id=target.struct.field("field_0"),
        version=target.struct.field("field_1").cast(pl.Int64, strict=False),
    ).filter(pl.col("definition_id").is_not_null() & pl.col("version").is_not_null())
    events = events.with_columns(
        res_id=pl.concat_str("workload", pl.lit("."), "resource"),
        source=pl.lit("deployment"),
        pinned=pl.lit(None, dtype=pl.Boolean),
    )
    events = events.with_columns(type=pl.lit(None, dtype=pl.String), **{"class": pl.lit(None, dtype=pl.String)})
    return shaped(events, EVENT_SCHEMA)


def events(sources: Sources, end: datetime) -> pl.DataFrame:
    """Every consumer event before ``end``, oldest first, deployments after bindings at the same moment."""
    frame = pl.concat([bindings(sources, None, end), deployed(sources, end)], how="vertical")
    return frame.sort("at", pl.col("source") == "deployment")


def state_at(frame: pl.DataFrame, moments: list[datetime]) -> pl.DataFrame:
    """What each consumer used at each moment: its latest event strictly before it (column ``snapshot_at``).

    Rows come per consumer in the order of its first event, then per moment in the given order. One moment
    at a time: pairing every event with every moment at once held gigabytes for a million deployments."""
    if frame.is_empty() or not moments:
        return frame.with_columns(snapshot_at=pl.lit(None, dtype=TS)).clear()
    numbered = frame.with_row_index("_first")
    others = [name for name in frame.columns if name not in CONSUMER]
    parts = [
        numbered.filter(pl.col("at") < moment)
        .group_by(CONSUMER, maintain_order=True)
        .agg(pl.col(others).last(), pl.col("_first").first())
        .with_columns(snapshot_at=pl.lit(moment, dtype=TS), _moment=pl.lit(number, dtype=pl.UInt32))
        for number, moment in enumerate(moments)
    ]
    ordered = pl.concat(parts, how="vertical").sort("_first", "_moment", maintain_order=True)
    return ordered.select(*CONSUMER, "snapshot_at", *others)


def with_previous(frame: pl.DataFrame) -> pl.DataFrame:
    """Each event with what the consumer used before it (``previous_definition_id``, ``previous_version``)."""
    return frame.with_columns(
        previous_definition_id=pl.col("definition_id").shift(1).over(CONSUMER),
        previous_version=pl.col("version").shift(1).over(CONSUMER),
    )


def definitions(sources: Sources) -> pl.DataFrame:
    """The catalog's definitions (id, type, legacy, created_at as naive UTC)."""
    schema = {
        "definition_id": pl.String(),
        "type": pl.String(),
        "legacy": pl.Boolean(),
        "created_at": pl.Datetime("ns"),
    }
    if not sources.has("catalog_definitions"):
        return pl.DataFrame(schema=schema)
    frame = sources.scan("catalog_definitions").select(
        definition_id="id", type="type", legacy="legacy", created_at="created_at"
    )
    return utc_naive(frame, ["created_at"]).collect()


def versions(sources: Sources) -> pl.DataFrame:
    """The catalog's versions with their state, activation and the classes their criteria offer."""
    schema = {
        "definition_id": pl.String(),
        "version": pl.Int64(),
        "state": pl.String(),
        "activated_at": pl.Datetime("ns"),
        "classes": pl.List(pl.String()),
        "type": pl.String(),
    }
    if not sources.has("catalog_versions"):
        return pl.DataFrame(schema=schema)
    scan = sources.scan("catalog_versions").select("definition_id", "version", "state", "activated_at", "spec")
    frame = utc_naive(scan, ["activated_at"]).collect()
    spec_type = pl.Struct({"type": pl.String(), "criteria": pl.List(pl.Struct({"class": pl.String()}))})
    spec = pl.col("spec").str.json_decode(spec_type)
    classes = spec.struct.field("criteria").list.eval(pl.element().struct.field("class").fill_null("default"))
    return frame.with_columns(
        version=pl.col("version").cast(pl.Int64),
        classes=classes.list.unique().list.sort(),
        type=spec.struct.field("type"),
    ).select(list(schema))


def active_versions(version_rows: pl.DataFrame, moments: list[datetime]) -> pl.DataFrame:
    """The active version of each definition at each moment: the one activated last before it."""
    activated = version_rows.filter(pl.col("activated_at").is_not_null())
    if activated.is_empty() or not moments:
        return pl.DataFrame(schema={"definition_id": pl.String(), "snapshot_at": TS, "active_version": pl.Int64()})
    times = pl.DataFrame({"snapshot_at": moments}, schema={"snapshot_at": TS})
    return (
        activated.join(times, how="cross")
        .filter(pl.col("activated_at") < pl.col("snapshot_at"))
        .sort("activated_at")
        .group_by(["definition_id", "snapshot_at"])
        .agg(active_version=pl.col("version").last())
    )
