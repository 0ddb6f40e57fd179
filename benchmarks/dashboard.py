"""Dashboard benchmark: every page interactive within 2 s of navigation in a real browser.

Runs the browser test (Debian's Chromium, Playwright), which starts a collector with demo-sized data and
the dashboard, navigates every page and writes ``timings.json``; then compares the timings with the target.

    .venv/bin/python benchmarks/dashboard.py [--target 2.0] [--artifacts var/artifacts]

Exits 1 when a page misses the target after navigation from the sidebar.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=float, default=2.0, help="seconds to interactive after navigation")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "var" / "artifacts", help="screenshots, timings")
    args = parser.parse_args()
    args.artifacts.mkdir(parents=True, exist_ok=True)
    print("running the browser test (a collector, the dashboard and Chromium); this takes a minute or two...")
    env = {**os.environ, "TRELLIS_ARTIFACTS": str(args.artifacts)}
    test = "tests/dashboard/test_browser.py::test_every_page_becomes_interactive_and_its_timings_are_recorded"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", test], cwd=ROOT, env=env, check=False)
    timings_file = args.artifacts / "timings.json"
    if run.returncode != 0 or not timings_file.exists():
        print("error: the browser test did not produce timings (is chromium installed?)", file=sys.stderr)
        return 2
    timings = json.loads(timings_file.read_text())
    print(f"\n{'page':<22} {'cold':>6} {'cached':>7} {'new session':>12}")
    missed = []
    for page, t in timings.items():
        print(f"{page:<22} {t['navigate_cold_s']:>6.2f} {t['navigate_warm_s']:>7.2f} {t['open_url_s']:>12.2f}")
        if max(t["navigate_cold_s"], t["navigate_warm_s"]) > args.target:
            missed.append(page)
    verdict = "missed by " + ", ".join(missed) if missed else "met"
    print(f"\ntarget: interactive within {args.target:g} s of navigation: {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
