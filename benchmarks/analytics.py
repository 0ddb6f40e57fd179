"""Analytics benchmark: every job over 90 days of a 2,000-workload organisation.

It builds (once; ``--rebuild`` starts over) a DuckDB store with the collector's and the catalog's tables
(``trellis.collector.schema.migrate``, ``trellis.catalog.tables.migrate_catalog``), filled directly in DuckDB with SQL
``range()``:

- 2,000 workloads (1,000 services in ``production-eu`` and ``staging``, 50 teams), one pod each, with
  ``container.cpu.time`` (cumulative counter), ``container.memory.working_set`` and the CPU and memory
  requests (gauges) every 5 minutes for 90 days: 207 million metric points;
- one million deployments (8% failed; two in three workloads name a catalog resource), ten thousand
  production incidents, and a catalog of 60 definitions with versions, 120,000 bindings, misses and pins.

Then it times each job in a process of its own (and all of them together in one more), reading the
process's peak resident memory (``ru_maxrss``) at its end. Each run is bounded by ``--timeout``.

    .venv/bin/python benchmarks/analytics.py                      # build if needed, then time
    .venv/bin/python benchmarks/analytics.py --rebuild            # build the store again
    .venv/bin/python benchmarks/analytics.py --job dora --job cost --window-days 30

Exit status: 0 when every run met its target (all jobs < 60 s, dora < 2 s, peak memory < 4 GiB), 1 when
one did not, 2 when a run failed or timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START = datetime(2026, 1, 5)
"""A Monday: the store's first day."""
TEAMS = 50
TARGETS = {"all": 60.0, "dora": 2.0}
MEMORY_TARGET_MIB = 4096.0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------


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
    from trellis.collector.schema import stored_table

    extra = ", 2 AS aggregation_temporality, true AS is_monotonic" if sum_columns else ""
    return f"""
        INSERT INTO {stored_table(table)} BY NAME
        SELECT
            '{metric}' AS metric_name,
            r.resource_id,
            CAST(w.w * 4 + {series} AS UBIGINT) AS series_id,
            TIMESTAMP_NS '{START.isoformat()}' AS start_time,
            TIMESTAMP_NS '{START.isoformat()}' + to_microseconds(i * {step_s} * 1000000) AS "time",
            {value} AS value
            {extra}
        FROM range({first}, {last}) p(i)
        CROSS JOIN ({_workloads_sql(workloads)}) w
        JOIN bench_resource_ids r USING (w)
    """


def _resources(con: Any, workloads: int) -> None:
    """Each workload's resource (its pod) in otel_resources, and ``bench_resource_ids`` (w, resource_id)."""
    from trellis.collector import resources
    from trellis.collector.schema import RESOURCE_NAMES, resource_id

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


def build_store(path: Path, workloads: int, days: int, step_minutes: int, deployments: int) -> None:
    import duckdb

    from trellis.catalog.tables import migrate_catalog
    from trellis.collector.schema import migrate

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.unlink(missing_ok=True)
    con = duckdb.connect(str(partial))
    migrate(con)
    migrate_catalog(con)
    started = time.perf_counter()
    per_day = 24 * 60 // step_minutes
    total_points = workloads * 4 * per_day * days
    done = 0
    chunk_days = 5
    _resources(con, workloads)
    for first_day in range(0, days, chunk_days):
        last_day = min(days, first_day + chunk_days)
        for table, metric, series, value, is_sum in _metrics(workloads, days, step_minutes):
            con.execute(_metric_chunk_sql(table, metric, series, first_day * per_day, last_day * per_day,
                                          step_minutes * 60, workloads, value, is_sum))  # fmt: skip
            done += workloads * per_day * (last_day - first_day)
        elapsed = time.perf_counter() - started
        _progress(
            f"metrics: day {last_day:>3}/{days}  {done / 1e6:7.1f}M of {total_points / 1e6:.1f}M points  "
            f"{elapsed:6.1f} s  ({done / max(elapsed, 1e-9) / 1e6:.1f}M points/s)"
        )
    _events(con, workloads, days, deployments)
    _progress(f"deployments and incidents written ({time.perf_counter() - started:.1f} s)")
    _catalog(con, workloads, days)
    _progress(f"catalog written ({time.perf_counter() - started:.1f} s)")
    con.execute("CHECKPOINT")
    con.close()
    partial.replace(path)
    _progress(f"store ready: {path} ({path.stat().st_size / 2**30:.2f} GiB, {time.perf_counter() - started:.0f} s)")


def _events(con: Any, workloads: int, days: int, deployments: int) -> None:
    span_us = days * 86_400 * 1_000_000
    start = f"TIMESTAMP_NS '{START.isoformat()}'"
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


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's resident-memory high-water mark (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_in_this_process(db: Path, names: list[str], start: str, end: str, memory_limit: str) -> dict[str, Any]:
    import duckdb

    from trellis.analytics import AnalyticsConfig, Period, run_jobs, select_jobs
    from trellis.analytics.service import parse_moment

    con = duckdb.connect(str(db), config={"memory_limit": memory_limit} if memory_limit else {})
    period = Period(parse_moment(start), parse_moment(end))
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    results = run_jobs(con, select_jobs(names), period, AnalyticsConfig(production_environments=("production",)))
    seconds = time.perf_counter() - started
    con.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "jobs": names,
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
        "load_average": os.getloadavg()[0],
        "peak_rss_mib": peak_rss_mib(),
        "results": [{"job": r.job, "rows": r.rows, "seconds": r.seconds} for r in results],
    }


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_child(
    db: Path, names: list[str], start: str, end: str, timeout: float, kill_mib: float, memory_limit: str
) -> dict[str, Any]:
    """Run jobs in a fresh process; stop it after ``timeout`` s or once it holds more than ``kill_mib``."""
    command = [sys.executable, __file__, "--db", str(db), "--child", "--from", start, "--to", end]
    command += ["--memory-limit", memory_limit]
    for name in names:
        command += ["--job", name]
    started = time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) as child:
        peak = 0.0
        while child.poll() is None:
            peak = max(peak, _rss_mib(child.pid))
            if peak > kill_mib or time.monotonic() - started > timeout:
                child.kill()
                child.wait()
                why = f"held {peak:.0f} MiB" if peak > kill_mib else f"ran longer than {timeout:g} s"
                return {"jobs": names, "error": f"stopped: it {why}"}
            time.sleep(0.05)
        out, err = child.communicate()
    if child.returncode != 0:
        return {"jobs": names, "error": err.strip().splitlines()[-1] if err.strip() else "failed"}
    return dict(json.loads(out.strip().splitlines()[-1]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--db", type=Path, default=ROOT / "var" / "bench" / "analytics.duckdb", help="the store")
    p.add_argument("--rebuild", action="store_true", help="build the store again even if it exists")
    p.add_argument("--workloads", type=int, default=2000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--step-minutes", type=int, default=5, help="metric interval (default: 5)")
    p.add_argument("--deployments", type=int, default=1_000_000)
    p.add_argument("--job", action="append", default=None, help="job to time; repeat (default: every job)")
    p.add_argument("--window-days", type=int, default=None, help="analyze the last N days (default: all of them)")
    p.add_argument("--from", dest="start", default=None, help=argparse.SUPPRESS)
    p.add_argument("--to", dest="end", default=None, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds each run may take (default: 600)")
    p.add_argument("--kill-above-mib", type=float, default=12288.0,
                   help="stop a run whose memory passes this (default: 12288)")  # fmt: skip
    p.add_argument("--memory-limit", default="3GB",
                   help="DuckDB memory_limit of the runs; '' keeps 80%% of RAM (default: 3GB)")  # fmt: skip
    p.add_argument("--build-only", action="store_true", help="build the store and stop")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _outdated(path: Path) -> bool:
    """Whether the store was built with an older collector schema (then it is built again)."""
    import duckdb

    from trellis.collector.schema import SCHEMA_VERSION

    with duckdb.connect(str(path), read_only=True) as con:
        version = con.execute("SELECT max(version) FROM trellis_schema").fetchall()[0][0]
    if version != SCHEMA_VERSION:
        _progress(f"the store has collector schema {version}, not {SCHEMA_VERSION}: building it again")
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_in_this_process(args.db, args.job or [], args.start, args.end, args.memory_limit)))
        return 0
    if args.rebuild or not args.db.exists() or _outdated(args.db):
        build_store(args.db, args.workloads, args.days, args.step_minutes, args.deployments)
    if args.build_only:
        return 0
    from trellis.analytics import JOBS

    end = START + timedelta(days=args.days)
    begin = end - timedelta(days=args.window_days) if args.window_days else START
    start_s, end_s = begin.isoformat(), end.isoformat()
    names = args.job or list(JOBS)
    _progress(f"period {start_s} to {end_s}; each run in a fresh process, at most {args.timeout:g} s")
    runs = [[name] for name in names] + ([names] if len(names) > 1 else [])
    status = 0
    rows = []
    for run in runs:
        label = run[0] if len(run) == 1 else "all together"
        outcome = run_child(args.db, run, start_s, end_s, args.timeout, args.kill_above_mib, args.memory_limit)
        if "error" in outcome:
            _progress(f"{label:<16} FAILED: {outcome['error']}")
            status = 2
            continue
        target = TARGETS["all"] if len(run) > 1 else TARGETS.get(label)
        met = (target is None or outcome["seconds"] < target) and outcome["peak_rss_mib"] < MEMORY_TARGET_MIB
        if not met and status == 0:
            status = 1
        rows_out = sum(r["rows"] for r in outcome["results"])
        line = (
            f"{label:<16} {outcome['seconds']:8.2f} s  (CPU {outcome['cpu_seconds']:7.1f} s, "
            f"load {outcome['load_average']:4.1f})  "
            f"peak RSS {outcome['peak_rss_mib']:6.0f} MiB  "
            f"{rows_out:>9} rows  target {f'< {target:g} s' if target else '-':>8}  {'ok' if met else 'MISSED'}"
        )
        print(line, flush=True)
        rows.append({"run": label, **outcome})
    print(json.dumps({"period": [start_s, end_s], "cores": os.cpu_count(), "runs": rows}), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
