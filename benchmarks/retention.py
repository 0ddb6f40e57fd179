"""Retention benchmark: does the database file stop growing once retention applies?

Simulates a year of a generated organisation (``trellis.testing.analytics_store``: ``--workloads``
workloads, CPU and memory used and requested every ``--step-minutes``), a day at a time, in a database of
its own. After each day it sweeps as the collector does (``trellis.collector.retention.sweep``, raw metric
points kept ``--keep-days``; 0 keeps everything) and checkpoints, and every week it prints the file's
size and the points kept. With ``--archive-dir DIR`` each expired day is first written there as Parquet
(``trellis.collector.archive``), and the end says how long the sweeps took and what the archive holds.

    .venv/bin/python benchmarks/retention.py [--days 365] [--workloads 200] [--keep-days 30] [--archive-dir DIR]

Exits 1 when, with retention, the file grew by more than ``--max-growth`` (default 10%) over the last
quarter of the run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, timedelta
from pathlib import Path

import duckdb

from trellis.collector.archive import Archive
from trellis.collector.retention import RetentionPolicy, sweep
from trellis.collector.schema import migrate
from trellis.testing.analytics_store import START, add_metric_days, add_resources


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workloads", type=int, default=200)
    parser.add_argument("--step-minutes", type=int, default=5)
    parser.add_argument("--keep-days", type=int, default=30, help="days raw metric points are kept (0: all)")
    parser.add_argument("--max-growth", type=float, default=0.10)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--archive-dir", type=Path, default=None, help="archive expired days here first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        sizes = simulate(Path(folder) / "retention.duckdb", args)
    quarter = sizes[-(len(sizes) // 4 or 1)]
    growth = sizes[-1] / quarter - 1 if quarter else 0.0
    print(f"\nfile {sizes[-1] / 2**20:,.0f} MiB after {args.days} days; over the last quarter it grew {growth:.1%}")
    return 1 if args.keep_days and growth > args.max_growth else 0


def simulate(path: Path, args: argparse.Namespace) -> list[int]:
    """Day by day: the day's points, a sweep, a checkpoint; the file's size at the end of each week."""
    con = duckdb.connect(str(path))
    migrate(con)
    add_resources(con, args.workloads)
    policy = RetentionPolicy(metrics=args.keep_days)
    archive = Archive(args.archive_dir) if args.archive_dir else None
    sizes, started, written, sweeping = [], time.perf_counter(), 0, 0.0
    print(f"{'day':>5} {'file MiB':>10} {'points kept':>14} {'removed':>12} {'written':>14} {'seconds':>8}")
    for day in range(args.days):
        written += add_metric_days(con, args.workloads, day, day + 1, args.step_minutes)
        end_of_day = (START + timedelta(days=day + 1)).replace(tzinfo=UTC)
        before = time.perf_counter()
        removed = sum(sweep(con, policy, end_of_day, archive).values()) if args.keep_days else 0
        sweeping += time.perf_counter() - before
        con.execute("CHECKPOINT")
        if (day + 1) % 7 == 0 or day + 1 == args.days:
            sizes.append(path.stat().st_size)
            kept = con.execute("SELECT (SELECT count(*) FROM otel_metrics_sum_rows) + "
                               "(SELECT count(*) FROM otel_metrics_gauge_rows)").fetchall()[0][0]  # fmt: skip
            print(f"{day + 1:>5} {sizes[-1] / 2**20:>10,.1f} {kept:>14,} {removed:>12,} {written:>14,} "
                  f"{time.perf_counter() - started:>8.1f}", flush=True)  # fmt: skip
    con.close()
    print(f"\nsweeps took {sweeping:.1f} s in all")
    for table in archive.tables() if archive else []:
        print(f"archived {table.table}: {table.days} days, {table.files} parts, {table.bytes / 2**20:,.1f} MiB")
    return sizes


if __name__ == "__main__":
    sys.exit(main())
