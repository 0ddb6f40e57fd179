"""Template rendering benchmark: outputs render in worker processes within limits; what does that cost?

Starts the shared renderer's first worker (the cold start every collector pays once), then renders a
typical output template ``--renders`` times with new variables each time, and prints both figures.

    .venv/bin/python benchmarks/render.py [--renders 10000] [--target-ms 1.0]

Exits 1 when the median render takes longer than ``--target-ms``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from trellis.catalog.rendering import RENDERER

TEMPLATE = "{{ params.size }}-{{ context.app }}-{{ context.env }}.{{ context.env_type }}.db.internal"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=10_000)
    parser.add_argument("--target-ms", type=float, default=1.0)
    args = parser.parse_args()
    started = time.perf_counter()
    RENDERER.render("{{ 1 }}", {})
    cold = time.perf_counter() - started
    timings = []
    for i in range(args.renders):
        variables = {
            "params": {"size": "small"},
            "context": {"app": f"app-{i % 50}", "env": "prod", "env_type": "production"},
        }
        started = time.perf_counter()
        RENDERER.render(TEMPLATE, variables)
        timings.append((time.perf_counter() - started) * 1000)
        if i and i % 2000 == 0:
            print(f"  {i:,} renders", file=sys.stderr)
    median, p99 = statistics.median(timings), statistics.quantiles(timings, n=100)[98]
    print(f"first worker ready in {cold:.3f} s; {args.renders:,} renders: median {median:.3f} ms, p99 {p99:.3f} ms")
    RENDERER.close()
    return 0 if median <= args.target_ms else 1


if __name__ == "__main__":
    sys.exit(main())
