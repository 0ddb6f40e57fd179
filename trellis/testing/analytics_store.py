"""A generated organisation's data in a store of its own: what the analytics benchmark times, and what the
report tests and the notebook read, in a smaller size.

The store has the collector's and the catalog's tables (``trellis.collector.schema.migrate``,
``trellis.catalog.tables.migrate_catalog``), filled directly in DuckDB with SQL ``range()``; ``hash()``
makes every value vary yet come out the same on each build. From ``START`` (a Monday), for ``days``:

- ``workloads`` workloads (``workloads // 2`` services, each in ``production-eu`` and in ``staging``, in up
  to 50 teams), one pod each, with ``container.cpu.time`` (cumulative counter),
  ``container.memory.working_set`` and the CPU and memory requests (gauges) every ``step_minutes``;
- ``deployments`` deployments (8% failed; two in three workloads name a catalog resource), one incident
  of a production workload per hundred deployments, and a catalog of definitions with versions, bindings,
  misses and pins.

``build_analytics_store`` with its defaults writes the benchmark's store: 2,000 workloads over 90 days,
207 million metric points and a million deployments (``benchmarks/analytics.py``).
``make_small_analytics_store`` writes 12 workloads over two weeks and runs every job for them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from trellis.analytics import AnalyticsConfig, Period, run_jobs, select_jobs
from trellis.catalog.tables import migrate_catalog
from trellis.collector import resources
from trellis.collector.schema import RESOURCE_NAMES, migrate, resource_id, stored_table

START = datetime(2026, 1, 5)
"""A Monday: the store's first day."""
TEAMS = 50
SMALL_STORE_PERIOD = Period(START, START + timedelta(days=14))
"""The two weeks of ``make_small_analytics_store``, for which it runs every job."""

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_small_analytics_store(path: Path, analyze: bool = True) -> Path:
    """12 workloads over two weeks with 3,000 deployments (a few seconds); with ``analyze``, every job has
    run for ``SMALL_STORE_PERIOD``."""
    build_analytics_store(path, workloads=12, days=14, step_minutes=5, deployments=3000)
    if analyze:
        with duckdb.connect(str(path)) as con:
            run_jobs(con, select_jobs(None), SMALL_STORE_PERIOD, AnalyticsConfig())
    return path


def _workloads_sql(workloads: int) -> str:
    """One row per workload with its identity and sizes; hash() makes them vary but stay reproducible."""
    return f"""
        SELECT
            w,
            'svc-' || lpad(CAST(w // 2 AS VARCHAR), 4, '0') AS service,
            CASE WHEN w % 2 = 0 THEN 'production-eu' ELSE 'staging' END AS env,
            'team-' || lpad(CAST((w // 2) % {TEAMS} AS VARCHAR), 2, '0') AS team,
            0.05 + (hash(w, 'cpu') % 1000) / 500.0 AS cores,
            1.2 + (hash(w, 'cpu-req') % 1000) / 333.0 AS cpu_factor,
            (128 + hash(w, 'mem') % 3968) * 1048576.0 AS mem_bytes,
            1.1 + (hash(w, 'mem-req') % 1000) / 700.0 AS mem_factor
        FROM range({workloads}) t(w)
    """


def _metric_chunk_sql(table: str, metric: str, series: int, first: int, last: int, step_s: int, workloads: int,
                      value: str, sum_columns: bool) -> str:  # fmt: skip
    extra = ", 2 AS aggregation_temporality, true AS is_monotonic" if sum_columns else ""
    return f"""
        INSERT INTO {stored_table(table)} BY NAME
        SELECT
            '{metric}' AS metric_name,
            r.resource_id,
            CAST(w.w * 4 + {series} AS UBIGINT) AS series_id,
            TIMESTAMPTZ_NS '{START.isoformat()}+00' AS start_time,
            TIMESTAMPTZ_NS '{START.isoformat()}+00' + to_microseconds(i * {step_s} * 1000000) AS "time",
            {value} AS value
            {extra}
        FROM range({first}, {last}) p(i)
        CROSS JOIN ({_workloads_sql(workloads)}) w
        JOIN bench_resource_ids r USING (w)
    """


def _resources(con: Any, workloads: int) -> None:
    """Each workload's resource (its pod) in otel_resources, and ``bench_resource_ids`` (w, resource_id)."""
    pods = con.execute(
        f"SELECT w, service, team, env, service || '-' || env || '-7d9f8b6c5-x2x4q' FROM ({_workloads_sql(workloads)})"
    ).fetchall()
    by_id: dict[int, list[Any]] = {}
    pairs = []
    for w, service, team, env, pod in pods:
        values = dict.fromkeys(RESOURCE_NAMES)
        values.update(service_name=service, service_namespace=team, deployment_environment_name=env,
                      k8s_namespace_name=team, k8s_pod_name=pod, k8s_container_name="app")  # fmt: skip
        key = resource_id(list(values.values()))
        by_id[key] = list(values.values())
        pairs.append((w, key))
    resources.insert_resources(con, resources.resources_table(by_id))
    con.execute("CREATE TEMP TABLE bench_resource_ids (w BIGINT, resource_id UBIGINT)")
    con.executemany("INSERT INTO bench_resource_ids VALUES (?, ?)", pairs)


def _metrics(workloads: int, days: int, step_minutes: int) -> list[tuple[str, str, int, str, bool]]:
    per_day = 24 * 60 // step_minutes
    phase = f"2 * pi() * i / {per_day}"
    # Cumulative CPU seconds of a rate cores * (1 + 0.5 sin(phase)): the integral, never decreasing.
    cpu_seconds = (
        f"w.cores * (i * {step_minutes * 60} - 0.5 * {step_minutes * 60 * per_day} / (2 * pi()) * (cos({phase}) - 1))"
    )
    memory = f"w.mem_bytes * (0.75 + 0.2 * sin({phase}) + 0.05 * ((hash(w.w, i) % 100) / 100.0))"
    return [
        ("otel_metrics_sum", "container.cpu.time", 0, cpu_seconds, True),
        ("otel_metrics_gauge", "container.memory.working_set", 1, memory, False),
        ("otel_metrics_gauge", "k8s.container.cpu.request", 2, "round(w.cores * w.cpu_factor, 2)", False),
        ("otel_metrics_gauge", "k8s.container.memory.request", 3, "round(w.mem_bytes * w.mem_factor, -6)", False),
    ]


def build_analytics_store(
    path: Path,
    workloads: int = 2000,
    days: int = 90,
    step_minutes: int = 5,
    deployments: int = 1_000_000,
    progress: Progress = _stderr,
) -> None:
    """Write the organisation (see the module's doc) to ``path``, through ``path.part`` so that a stopped
    build leaves no half store; the defaults are the benchmark's 207 million points."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.unlink(missing_ok=True)
    con = duckdb.connect(str(partial))
    migrate(con)
    migrate_catalog(con)
    started = time.perf_counter()
    _resources(con, workloads)
    _fill_metrics(con, workloads, days, step_minutes, started, progress)
    _events(con, workloads, days, deployments)
    progress(f"deployments and incidents written ({time.perf_counter() - started:.1f} s)")
    _catalog(con, workloads, days)
    progress(f"catalog written ({time.perf_counter() - started:.1f} s)")
    con.execute("CHECKPOINT")
    con.close()
    partial.replace(path)
    progress(f"store ready: {path} ({path.stat().st_size / 2**30:.2f} GiB, {time.perf_counter() - started:.0f} s)")


def add_resources(con: Any, workloads: int) -> None:
    """The workloads' resources (see ``build_analytics_store``), for ``add_metric_days``."""
    _resources(con, workloads)


def add_metric_days(con: Any, workloads: int, first_day: int, last_day: int, step_minutes: int = 5) -> int:
    """The four metrics of every workload from day ``first_day`` to ``last_day`` (not included) after
    START, one statement per metric; the points written."""
    per_day = 24 * 60 // step_minutes
    for table, metric, series, value, is_sum in _metrics(workloads, last_day, step_minutes):
        con.execute(_metric_chunk_sql(table, metric, series, first_day * per_day, last_day * per_day,
                                      step_minutes * 60, workloads, value, is_sum))  # fmt: skip
    return 4 * workloads * per_day * (last_day - first_day)


def _fill_metrics(con: Any, workloads: int, days: int, step_minutes: int, started: float, progress: Progress) -> None:
    """The four metrics of every workload, five days at a time (one statement per metric and chunk)."""
    per_day = 24 * 60 // step_minutes
    total_points = workloads * 4 * per_day * days
    done = 0
    chunk_days = 5
    for first_day in range(0, days, chunk_days):
        last_day = min(days, first_day + chunk_days)
        done += add_metric_days(con, workloads, first_day, last_day, step_minutes)
        elapsed = time.perf_counter() - started
        progress(
            f"metrics: day {last_day:>3}/{days}  {done / 1e6:7.1f}M of {total_points / 1e6:.1f}M points  "
            f"{elapsed:6.1f} s  ({done / max(elapsed, 1e-9) / 1e6:.1f}M points/s)"
        )


def _events(con: Any, workloads: int, days: int, deployments: int) -> None:
    span_us = days * 86_400 * 1_000_000
    start = f"TIMESTAMPTZ_NS '{START.isoformat()}+00'"
    con.execute(f"""
        INSERT INTO deployments BY NAME
        SELECT
            'd-' || r AS deployment_id,
            w.service AS deployment_name,
            CASE WHEN hash(r, 'status') % 100 < 8 THEN 'failed' ELSE 'succeeded' END AS status,
            w.env AS environment,
            w.service AS service_name,
            w.team AS service_namespace,
            '1.' || (r // {workloads}) || '.0' AS service_version,
            finished AS finished_at,
            CASE WHEN hash(r, 'lead') % 10 < 9
                 THEN finished - to_microseconds(CAST((600 + hash(r, 'lead-s') % 259200) AS BIGINT) * 1000000)
            END AS first_commit_at,
            lpad(printf('%x', hash(r, 'sha')), 16, '0') AS vcs_revision,
            'https://git.example.com/' || w.team || '/' || w.service AS vcs_repository,
            'deploy' AS pipeline_name,
            CAST(r AS VARCHAR) AS pipeline_run_id,
            CASE WHEN w.w % 3 <> 0
                 THEN ['db=pg-' || w.team || '@' || CAST(1 + LEAST(2, date_diff('day', {start}, finished) // 30) AS VARCHAR)]
            END AS resources
        FROM (
            SELECT r, r % {workloads} AS wl,
                   {start} + to_microseconds(CAST(hash(r, 'at') % {span_us} AS BIGINT)) AS finished
            FROM range({deployments}) t(r)
        ) d
        JOIN ({_workloads_sql(workloads)}) w ON w.w = d.wl
    """)  # noqa: E501
    incidents = max(1, deployments // 100)
    con.execute(f"""
        INSERT INTO incidents BY NAME
        SELECT
            'INC-' || r AS incident_id,
            w.service AS service_name,
            w.team AS service_namespace,
            CASE WHEN r % 10 < 8 THEN w.env END AS environment,
            opened AS opened_at,
            CASE WHEN hash(r, 'open') % 100 >= 3
                 THEN opened + to_microseconds(CAST(300 + hash(r, 'mttr') % 172800 AS BIGINT) * 1000000)
            END AS resolved_at,
            CASE WHEN r % 2 = 0 THEN 'd-' || CAST(w.w + {workloads} * (hash(r, 'cause') % {deployments // workloads}) AS VARCHAR)
            END AS caused_by_deployment_id
        FROM (
            SELECT r, 2 * (hash(r, 'w') % {workloads // 2}) AS wl,
                   {start} + to_microseconds(CAST(hash(r, 'at') % {span_us} AS BIGINT)) AS opened
            FROM range({incidents}) t(r)
        ) i
        JOIN ({_workloads_sql(workloads)}) w ON w.w = i.wl
    """)  # noqa: E501


def _catalog(con: Any, workloads: int, days: int) -> None:
    start = f"TIMESTAMPTZ '{START.isoformat()}+00:00'"
    definitions = f"""
        SELECT 'pg-team-' || lpad(CAST(t AS VARCHAR), 2, '0') AS id, 'postgres' AS type, false AS legacy
        FROM range({TEAMS}) x(t)
        UNION ALL SELECT 'redis-shared', 'redis', false
        UNION ALL SELECT 's3-standard', 's3', false
        UNION ALL SELECT 'kafka-topics', 'kafka-topic', false
        UNION ALL SELECT 'dns-internal', 'dns', false
        UNION ALL SELECT 'legacy-pg-' || t, 'postgres', true FROM range(6) x(t)
    """
    con.execute(f"""
        INSERT INTO catalog_definitions
        SELECT id, type, 'benchmark definition', legacy, {start} - INTERVAL 60 DAY FROM ({definitions})
    """)
    con.execute(f"""
        INSERT INTO catalog_versions BY NAME
        SELECT d.id AS definition_id, v AS version, d.id || '-' || v AS content_hash,
               json_object('type', d.type, 'driver', 'static',
                           'criteria', [json_object('class', 'default'), json_object('class', 'large')]) AS spec,
               CASE WHEN v = 3 THEN 'active' ELSE 'deprecated' END AS state, 'bench' AS proposed_by,
               {start} + (v - 2) * INTERVAL 30 DAY - INTERVAL 1 DAY AS proposed_at,
               {start} + (v - 2) * INTERVAL 30 DAY AS activated_at
        FROM catalog_definitions d, range(1, 4) x(v)
    """)
    con.execute(f"""
        INSERT INTO catalog_bindings BY NAME
        SELECT w.service AS workload, w.team AS app, w.env AS env,
               CASE WHEN w.env LIKE 'production%' THEN 'production' ELSE 'staging' END AS env_type,
               'db' AS resource, w.service || '.db' AS res_id, 'postgres' AS type,
               CASE WHEN w.w % 7 = 0 THEN 'large' ELSE 'default' END AS class, '{{}}' AS params,
               'pg-' || w.team AS definition_id, CAST(1 + LEAST(2, day // 30) AS INTEGER) AS version,
               false AS pinned, '{{}}' AS outputs,
               {start} + day * INTERVAL 1 DAY + to_microseconds(CAST(hash(w.w, day) % 86400000000 AS BIGINT)) AS resolved_at
        FROM ({_workloads_sql(workloads)}) w, range({days}) x(day)
        WHERE w.w % 3 <> 0
    """)  # noqa: E501
    con.execute(f"""
        INSERT INTO catalog_misses BY NAME
        SELECT w.service AS workload, w.team AS app, w.env AS env, 'production' AS env_type, 'cache' AS resource,
               'mongodb' AS type, 'default' AS class,
               'resource cache: no definition of type mongodb and class default matches' AS reason,
               {start} + to_microseconds(CAST(hash(r, 'miss') % ({days} * 86400000000) AS BIGINT)) AS missed_at
        FROM range(3000) x(r) JOIN ({_workloads_sql(workloads)}) w ON w.w = r % {workloads}
    """)
    end = START + timedelta(days=days)
    con.execute(f"""
        INSERT INTO catalog_objects
        SELECT 'Pin', 'pin-' || w.w,
               json_object('app', w.team, 'env', w.env, 'workload', w.service, 'resource', 'db',
                           'definition', 'pg-' || w.team, 'version', 2, 'reason', 'driver upgrade pending',
                           'owner', w.team,
                           'expires', strftime(TIMESTAMP '{end.isoformat()}' + w.w * INTERVAL 1 DAY, '%Y-%m-%dT%H:%M:%SZ')),
               NULL, {start}, {start}
        FROM ({_workloads_sql(workloads)}) w WHERE w.w % 2 = 0 AND w.w < 40
    """)  # noqa: E501


__all__ = [
    "SMALL_STORE_PERIOD",
    "START",
    "TEAMS",
    "add_metric_days",
    "add_resources",
    "build_analytics_store",
    "make_small_analytics_store",
]
