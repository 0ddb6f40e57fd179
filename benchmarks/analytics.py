"""Analytics benchmark: every job over 90 days of a 2,000-workload organisation.

It builds (once; ``--rebuild`` starts over) a DuckDB store with the collector's and the catalog's tables,
filled directly in DuckDB with SQL ``range()`` by ``trellis.testing.analytics_store`` (the generator the
report tests use too, in a smaller size):

- 2,000 workloads (1,000 services in ``production-eu`` and ``staging``, 50 teams), one pod each, with
  ``container.cpu.time`` (cumulative counter), ``container.memory.working_set`` and the CPU and memory
  requests (gauges) every 5 minutes for 90 days: 207 million metric points;
- one million deployments (8% failed; two in three workloads name a catalog resource), ten thousand
  production incidents, and a catalog of 60 definitions with versions, 120,000 bindings, misses and pins.

Then it times each job in a process of its own (and all of them together in one more), reading the
process's peak resident memory (``VmHWM``) at its end. Each run is bounded by ``--timeout``.

    .venv/bin/python benchmarks/analytics.py                      # build if needed, then time
    .venv/bin/python benchmarks/analytics.py --rebuild            # build the store again
    .venv/bin/python benchmarks/analytics.py --job dora --job cost --window-days 30

Exit status: 0 when every run met its target (each job < 10 s, dora < 1 s, all together < 60 s, peak memory
< 2 GiB), 1 when one did not, 2 when a run failed or timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"all": 60.0, "dora": 1.0}
"""Seconds a run may take: all jobs together, DORA alone; every other job alone, JOB_TARGET."""
JOB_TARGET = 10.0
MEMORY_TARGET_MIB = 2048.0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's resident-memory high-water mark: VmHWM, which starts again at exec. ``ru_maxrss``
    does not: a child started after the parent rolled the store up in its own process reported the parent's
    peak (3,765 MiB for every job)."""
    return _status_mib("self", "VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _status_mib(pid: int | str, field: str) -> float:
    """A memory ``field`` of /proc/<pid>/status (VmRSS, VmHWM) in MiB; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


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
            peak = max(peak, _status_mib(child.pid, "VmRSS"))
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
    p.add_argument(
        "--no-rollups",
        action="store_true",
        help="do not roll the store's hours up (by default they are, once, as the collector does)",
    )
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


def ensure_rollups(path: Path, now: datetime) -> None:
    """Roll up every hour of the store, as the collector's rollups would have as the points arrived (once:
    a store whose rollups reach its last hour, all with sketches, is left as it is). Hours rolled up by a
    version without sketches are rolled up again: every raw point of the benchmark's store is kept."""
    import duckdb

    from trellis.analytics import rollups

    with duckdb.connect(str(path)) as con:
        rollups.ensure_tables(con)
        late, new = rollups.due_hours(con, now)
        older = [h for (h,) in con.execute(f"SELECT hour FROM {rollups.HOURS} WHERE NOT sketched").fetchall()]
        ranges = rollups.batches(sorted(set(late + new + older)))
        if not ranges:
            return
        started, cpu = time.monotonic(), time.process_time()
        for number, (first, end) in enumerate(ranges, 1):
            rollups.roll_hours(con, first, end)
            if number % 10 == 0 or number == len(ranges):
                _progress(f"rollups: {number}/{len(ranges)} days of hours ({time.monotonic() - started:.0f} s)")
        rollups.roll_days(con, [first for first, _ in ranges] + [end - timedelta(hours=1) for _, end in ranges])
        wall, cpu = time.monotonic() - started, time.process_time() - cpu
        points = int(con.execute(f"SELECT sum(samples) FROM {rollups.HOURLY}").fetchall()[0][0] or 0)
        # The CPU maintaining the rollups costs per point, to set against ingest's (benchmarks/ingest.py).
        _progress(f"rollups: {points:,} points rolled up in {wall:.1f} s, CPU {cpu:.1f} s: "
                  f"{cpu / max(points, 1) * 1e6:.2f} us of CPU per point")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_in_this_process(args.db, args.job or [], args.start, args.end, args.memory_limit)))
        return 0
    from trellis.testing.analytics_store import START, build_analytics_store

    if args.rebuild or not args.db.exists() or _outdated(args.db):
        build_analytics_store(args.db, args.workloads, args.days, args.step_minutes, args.deployments, _progress)
    end = START + timedelta(days=args.days)
    if not args.no_rollups:
        ensure_rollups(args.db, (end + timedelta(hours=2)).replace(tzinfo=UTC))
    if args.build_only:
        return 0
    from trellis.analytics import JOBS

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
        target = TARGETS["all"] if len(run) > 1 else TARGETS.get(label, JOB_TARGET)
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
