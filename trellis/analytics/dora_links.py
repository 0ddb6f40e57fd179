"""DORA's links: which incident a failed deployment caused or what recovered it, rework during an open
incident, and the recoveries of failed deployments (``dora`` computes the metrics from them)."""

from __future__ import annotations

import polars as pl

from trellis.analytics.dora_reads import INCIDENT_COLUMNS, Deployments, numbered
from trellis.analytics.frames import in_environments
from trellis.analytics.job import AnalyticsConfig


def link_incidents(incidents: pl.DataFrame, deployments: Deployments, config: AnalyticsConfig) -> pl.DataFrame:
    """Each incident with the deployment it is linked to and the workload and environment it counts for.

    An incident names its cause (``caused_by_deployment_id``), or it is linked to the latest successful
    production deployment of its workload (in its environment, when it names one) that finished at or
    before it opened.
    """
    explicit = incidents.filter(pl.col("caused_by_deployment_id").is_not_null()).join(
        deployments.causes.select(
            linked_deployment_id="deployment_id",
            linked_environment="environment",
            linked_service="service_name",
            linked_namespace="service_namespace",
        ),
        left_on="caused_by_deployment_id",
        right_on="linked_deployment_id",
        how="left",
        coalesce=False,
    )
    explicit = explicit.with_columns(linked_deployment_id=pl.col("caused_by_deployment_id")).drop(
        "caused_by_deployment_id"
    )
    candidates = deployments.production.filter(pl.col("succeeded")).select(
        "workload", "series", "service", "finished_at", "row"
    )
    implicit = incidents.filter(pl.col("caused_by_deployment_id").is_null()).drop("caused_by_deployment_id")
    by_env = numbered(implicit.filter(pl.col("environment").is_not_null()), deployments.workloads, "series")
    no_env = numbered(implicit.filter(pl.col("environment").is_null()), deployments.workloads, "service")
    names = deployments.workloads.select(
        "workload",
        linked_environment="environment",
        linked_service="service_name",
        linked_namespace="service_namespace",
    )
    linked = [explicit]
    for frame, by, other in ((by_env, "series", "service"), (no_env, "service", "series")):
        found = frame.sort("opened_at").join_asof(
            candidates.drop(other), left_on="opened_at", right_on="finished_at", by=by, check_sortedness=False
        )
        found = found.with_columns(linked_deployment_id=deployments.ids.gather(found["row"]))
        linked.append(found.join(names, on="workload", how="left"))
    # The incident as read, its cause's id replaced by the linked deployment's id and names.
    read = [c for c in INCIDENT_COLUMNS if c != "caused_by_deployment_id"]
    columns = [*read, "linked_deployment_id", "linked_environment", "linked_service", "linked_namespace"]
    frame = pl.concat([f.select(columns) for f in linked], how="vertical_relaxed")
    return frame.with_columns(
        service_name=pl.coalesce("service_name", "linked_service"),
        service_namespace=pl.coalesce("service_namespace", "linked_namespace"),
        environment=pl.coalesce("environment", "linked_environment"),
    ).with_columns(production=in_environments("environment", config.production_environments))


def changes(deployments: Deployments, incidents: pl.DataFrame) -> pl.DataFrame:
    """The production deployments with whether each is a failed change (failed, or an incident is linked to
    it) and whether it is rework: a successful deployment right after a failed one of the same service and
    environment, or made while a production incident of that service and environment was open."""
    linked = deployments.ids.is_in(incidents["linked_deployment_id"].drop_nulls().implode())
    during = open_until(deployments.production, incidents.filter(pl.col("production")), deployments.workloads)
    return (
        during.with_columns(linked=linked.gather(during["row"]))
        .with_columns(
            failed_change=pl.col("failed") | pl.col("linked"),
            rework=pl.col("succeeded")
            & (
                pl.col("failed").shift(1).over("series").fill_null(False)
                | (pl.col("until") > pl.col("finished_at")).fill_null(False)
            ),
        )
        .drop("until")
    )


def open_until(deployments: pl.DataFrame, incidents: pl.DataFrame, workloads: pl.DataFrame) -> pl.DataFrame:
    """``deployments`` (sorted by ``finished_at``) with ``until``: the latest resolution (never: the end of
    time) among the incidents of their service and environment opened at or before them. A deployment was made
    while one was open when that is later than it.

    ``join_asof`` finds the latest incident opened so far without pairing every deployment with every
    incident, and each incident carries the latest resolution among those opened up to it. Null names match
    each other, as in a join with ``nulls_equal``."""
    never = pl.lit(2**63 - 1, pl.Int64).cast(pl.Datetime("ns"))
    windows = (
        numbered(incidents.filter(pl.col("opened_at").is_not_null()), workloads, "series", nulls_equal=True)
        .filter(pl.col("series").is_not_null())
        .select("series", "opened_at", until=pl.col("resolved_at").cast(pl.Datetime("ns")).fill_null(never))
        .sort("opened_at")
        .with_columns(until=pl.col("until").cum_max().over("series"))
    )
    found = deployments.join_asof(
        windows, left_on="finished_at", right_on="opened_at", by="series", check_sortedness=False
    )
    return found.drop("opened_at")


def recoveries_of_deployments(changes: pl.DataFrame, workloads: pl.DataFrame) -> pl.DataFrame:
    """The failed production deployments no incident is linked to, and how long each took to recover: until
    the next successful deployment of its service and environment (null: not yet; always, for a deployment
    without a service name, which names no service to follow)."""
    unnamed = workloads.filter(pl.col("service_name").is_null())["series"].implode()
    failed = changes.filter(pl.col("failed") & ~pl.col("linked")).with_columns(
        series=pl.when(~pl.col("series").is_in(unnamed)).then(pl.col("series"))
    )
    successes = changes.filter(pl.col("succeeded")).select("series", recovered_at="finished_at")
    return failed.join_asof(
        successes,
        left_on="finished_at",
        right_on="recovered_at",
        by="series",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    ).select(
        "workload", at="finished_at", recovery=(pl.col("recovered_at") - pl.col("finished_at")).dt.total_nanoseconds()
    )
