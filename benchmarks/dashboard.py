"""Dashboard benchmark: every page interactive within 1 s of navigation in a real browser, for any range.

Runs the browser test (Debian's Chromium, Playwright), which starts a collector with demo-sized data and
the dashboard, navigates every page with each of its filters (the last 30, 7 and 90 days, and 90 days of one
team) and writes ``timings.json``; then compares the timings with the target.

    .venv/bin/python benchmarks/dashboard.py [--target 1.0] [--artifacts var/artifacts]

Exits 1 when a page misses the target after navigation from the sidebar, with nothing cached or cached.
The machine's load average is printed beside the figures: on a busy machine they say little.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=float, default=1.0, help="seconds to interactive after navigation")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "var" / "artifacts", help="screenshots, timings")
    args = parser.parse_args()
    args.artifacts.mkdir(parents=True, exist_ok=True)
    print("running the browser test (a collector, the dashboard and Chromium); this takes two or three minutes...")
    before = _load()
    env = {**os.environ, "TRELLIS_ARTIFACTS": str(args.artifacts)}
    test = "tests/dashboard/test_browser.py::test_every_page_becomes_interactive_and_its_timings_are_recorded"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", test], cwd=ROOT, env=env, check=False)
    after = _load()
    timings_file = args.artifacts / "timings.json"
    if run.returncode != 0 or not timings_file.exists():
        print("error: the browser test did not produce timings (is chromium installed?)", file=sys.stderr)
        return 2
    timings = json.loads(timings_file.read_text())
    rounds = list(next(iter(timings.values()))["navigate"])
    print("\nseconds from clicking the page's sidebar link to interactive, per range: nothing cached / cached;")
    print("new browser: the first visit in a browser that never opened the dashboard (reported, not checked);")
    print("new session: the page's URL in a new session, app shell and sign-in (reported, not checked)")
    print(f"{'page':<20}" + "".join(f" {r:>18}" for r in rounds) + f" {'new browser':>12} {'new session':>12}")
    missed = []
    for page, t in timings.items():
        cells = []
        for r in rounds:
            cold, cached = t["navigate"][r]["cold_s"], t["navigate"][r]["cached_s"]
            cells.append(f"{cold:.2f} / {cached:.2f}")
            if max(cold, cached) > args.target:
                missed.append(f"{page} ({r})")
        tail = f" {t['new_browser_s']:>12.2f} {t['open_url_s']:>12.2f}"
        print(f"{page:<20}" + "".join(f" {c:>18}" for c in cells) + tail)
    print(f"\nload average (1, 5, 15 min): {before} before, {after} after, on {os.cpu_count()} cores")
    verdict = "missed by " + ", ".join(missed) if missed else "met"
    print(f"target: interactive within {args.target:g} s of navigation: {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
