"""``trellis demo``: the sample organisation's last 90 days in a collector, the analytics, the dashboard, live.

The first run, on a database file without history:

1. replays the catalog's history (``sample_data/catalog-history`` and ``sample_data/catalog``, the
   legacy Terraform import, approvals, pins) and resolves every deployment, on an in-memory catalog
   whose clock is the simulation's, then copies the catalog tables into the file with a marker row
   (``simulation_runs``), before any collector holds it;
2. starts the collector on the file with the demo users (``sample_data/tokens.yaml``), the price
   table (``sample_data/prices.yaml``) and the connectors (``sample_data/connectors.yaml``, with the
   demo's public webhook secrets in the collector's environment only);
3. sends the history over OTLP: metric points, pipeline traces, then the deployment and incident
   events (``trellis.simulator.run``), then the payments team's last deployments and incidents as
   GitHub and PagerDuty webhooks (``trellis.simulator.webhooks``);

every run then runs the analytics once over the history (``POST /api/v1/analyze``), starts the
dashboard, prints the addresses and the demo users' tokens, and
keeps the organisation running (``--live``) until Ctrl-C, which stops every process the demo started.
A second run finds the marker, applies ``sample_data/catalog`` and re-imports the legacy state
through the API (both are idempotent) and sends no history again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import duckdb
import httpx

from trellis.collector.auth import read_tokens
from trellis.collector.client import Client, ClientError, CollectorUnreachable
from trellis.collector.settings import CollectorSettings
from trellis.simulator.catalog import (
    MARKER_TABLE,
    Actors,
    display_path,
    documents_payload,
    has_catalog,
    write_catalog,
)
from trellis.simulator.model import ROOT, SAMPLE_DATA, Organisation, SimulationError, load_organisation
from trellis.simulator.plan import NS, Plan, build_plan
from trellis.simulator.run import (
    DEFAULT_SEED,
    DEFAULT_SPEED,
    Stored,
    Target,
    plan_backfill,
    replay,
    send_history,
    stored_history,
)
from trellis.simulator.send import Progress
from trellis.simulator.webhooks import DEMO_SECRETS, choose, read_routes, send_webhooks

HOST = "127.0.0.1"
"""The demo's tokens are public: the demo only ever listens on loopback."""


DEMO_DASHBOARD_PORT = 8501
"""The dashboard's port in the demo (Streamlit's own default)."""


def _default(name: str) -> Any:
    return CollectorSettings.model_fields[name].default


@dataclass
class DemoOptions:
    db: Path = field(default_factory=lambda: Path(_default("db")))
    days: float = 90.0
    seed: int = DEFAULT_SEED
    data: Path = SAMPLE_DATA
    otlp_grpc_port: int = field(default_factory=lambda: int(_default("otlp_grpc_port")))
    otlp_http_port: int = field(default_factory=lambda: int(_default("otlp_http_port")))
    api_port: int = field(default_factory=lambda: int(_default("api_port")))
    dashboard_port: int = DEMO_DASHBOARD_PORT
    live: bool = True
    speed: float = DEFAULT_SPEED
    dashboard: bool = True

    def __post_init__(self) -> None:
        self.db = self.db.resolve()  # the demo's processes run from the repository root

    @property
    def api(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.otlp_http_port}"


@dataclass
class Child:
    """A process the demo started, in its own process group, with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    reported: bool = False

    def tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(f"    {line}" for line in text[-lines:])


@dataclass
class Prepared:
    """What the database holds: a fresh history to send (``plan``), or the marker of an earlier one."""

    plan: Plan | None
    start: datetime | None
    days: float
    deployments: int = 0
    seed: int = DEFAULT_SEED
    end: datetime | None = None
    notes: list[str] = field(default_factory=list)


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}, **(extra or {})}


def start_child(name: str, command: list[str], log: Path, env: dict[str, str] | None = None) -> Child:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT, env=_child_env(env),
            start_new_session=True,
        )  # fmt: skip
    return Child(name, process, log)


def stop_child(child: Child, timeout: float = 20.0) -> None:
    """SIGTERM to the child's process group, SIGKILL after ``timeout``; nothing of it is left running."""
    pgid = child.process.pid
    if child.process.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        try:
            child.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            child.process.wait()
    _signal_group(pgid, signal.SIGKILL)  # anything the child started and left behind


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# ---------------------------------------------------------------------------------------------
# The database: history once, reuse afterwards
# ---------------------------------------------------------------------------------------------


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()
    return bool(rows[0][0])


def prepare_database(org: Organisation, options: DemoOptions, progress: Progress) -> Prepared:
    """Write the catalog's history into a database without one; describe what a used one holds."""
    db = options.db
    if db.exists():
        try:
            con = duckdb.connect(str(db))
        except duckdb.IOException as exc:
            raise SimulationError(
                f"{db} is in use ({str(exc).splitlines()[0]}): is a collector or another demo running on it?"
            ) from None
        try:
            if _table_exists(con, MARKER_TABLE):
                row = con.execute(
                    f"SELECT start_at, days, deployments, seed, end_at FROM {MARKER_TABLE} "
                    "ORDER BY created_at DESC LIMIT 1"
                ).fetchall()[0]
                return Prepared(None, row[0], float(row[1]), int(row[2]), int(row[3]), row[4])
            used = has_catalog(con) or (
                _table_exists(con, "deployments") and con.execute("SELECT count(*) FROM deployments").fetchall()[0][0]
            )
        finally:
            con.close()
        if used:
            note = (
                f"{db} holds data the demo did not write: it is used as it is, without the sample organisation's "
                "history (delete the file, or give another --db, to get it)"
            )
            return Prepared(None, None, options.days, notes=[note])
    plan = plan_backfill(org, options.seed, options.days)
    progress.line(
        f"history: {options.days:g} days of the sample organisation (seed {options.seed}): "
        f"{len(org.teams)} teams, {len(org.workloads)} workloads, {len(org.environments)} environments"
    )
    con = duckdb.connect(":memory:")
    actors = Actors.local(org, con)
    try:
        replay(org, plan, actors, progress)
        start = datetime.fromtimestamp(plan.start / NS, UTC).replace(tzinfo=None)
        end = datetime.fromtimestamp(plan.end / NS, UTC).replace(tzinfo=None)
        marker = {
            "seed": options.seed,
            "days": options.days,
            "start": start,
            "end": end,
            "deployments": len(plan.happened()),
            "incidents": len(plan.live_incidents()),
        }
        write_catalog(con, db, marker)
    finally:
        actors.close()
    return Prepared(plan, start, options.days, len(plan.happened()), options.seed, end)


# ---------------------------------------------------------------------------------------------
# The processes
# ---------------------------------------------------------------------------------------------


def start_collector(org: Organisation, options: DemoOptions) -> Child:
    command = [
        sys.executable, "-m", "trellis", "serve", "--db", str(options.db), "--host", HOST,
        "--otlp-grpc-port", str(options.otlp_grpc_port), "--otlp-http-port", str(options.otlp_http_port),
        "--api-port", str(options.api_port), "--tokens-file", str(org.root / "tokens.yaml"),
        "--price-table", str(org.root / "prices.yaml"),
        "--analytics-window-days", str(max(30, int(-(-options.days // 1)))), "--log-level", "warning",
    ]  # fmt: skip
    connectors = org.root / "connectors.yaml"
    if connectors.exists():  # its secrets are the demo's public ones, in the collector's environment only
        command += ["--connectors-file", str(connectors)]
    return start_child("collector", command, options.db.parent / "demo-collector.log", DEMO_SECRETS)


def wait_healthy(child: Child, client: Client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise SimulationError(f"the collector stopped before it became healthy; see {child.log}")
        try:
            client.health()
            return
        except CollectorUnreachable:
            time.sleep(0.2)
        except ClientError as exc:
            raise SimulationError(f"the collector answers, but: {exc}") from None
    raise SimulationError(f"the collector did not answer within {timeout:g} s; see {child.log}")


def start_dashboard(options: DemoOptions, progress: Progress) -> Child | None:
    command = [
        sys.executable, "-m", "trellis", "dashboard", "--api", options.api,
        "--port", str(options.dashboard_port), "--host", HOST,
    ]  # fmt: skip
    child = start_child("dashboard", command, options.db.parent / "demo-dashboard.log")
    url = f"http://{HOST}:{options.dashboard_port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            progress.line(f"dashboard: it stopped (exit {child.process.returncode}); {child.log}:\n{child.tail()}")
            stop_child(child)
            return None
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return child
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    progress.line(f"dashboard: started, but {url} does not answer yet; see {child.log}")
    return child


# ---------------------------------------------------------------------------------------------
# After the history: the catalog from sample_data, analytics
# ---------------------------------------------------------------------------------------------


def reapply_catalog(org: Organisation, options: DemoOptions, progress: Progress) -> None:
    """On a later run: apply sample_data/catalog and re-import the legacy state through the API."""
    actors = Actors.api(org, options.api)
    admin = actors.client("platform-admin")
    try:
        changes = admin.call("apply", documents_payload(org.root / "catalog"))["changes"]
        changed = [c for c in changes if c["action"] != "unchanged"]
        state = org.root / "terraform" / "legacy.tfstate.json"
        imported = admin.call("import", {"format": "terraform", "text": state.read_text(), "file": display_path(state)})
        changed += [c for c in imported.get("changes", []) if c["action"] != "unchanged"]
    finally:
        actors.close()
    progress.line(
        f"catalog: {display_path(org.root / 'catalog')} and the legacy Terraform state applied: "
        + (f"{len(changed)} changes" if changed else "everything unchanged")
    )


def run_analytics(client: Client, start: datetime | None, progress: Progress) -> None:
    from trellis.analytics import JOBS

    bounds = {"from": start.strftime("%Y-%m-%d")} if start is not None else {}
    for name in JOBS:
        began = time.monotonic()
        try:
            answer = client.request("POST", "/api/v1/analyze", json={**bounds, "jobs": [name]})
        except ClientError as exc:  # one job failing leaves the others, and the demo, useful
            progress.line(f"analytics: {name:<16} failed: {str(exc).strip().splitlines()[0]}")
            continue
        rows = sum(r["rows"] for r in answer["results"])
        progress.line(f"analytics: {name:<16} {rows:>7,} rows  {time.monotonic() - began:5.1f} s")


def _ns(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp()) * NS


def complete_history(org: Organisation, prepared: Prepared, target: Target, client: Client, progress: Progress) -> None:
    """Reuse the history a first run sent; send what it did not get to when it was stopped half-way."""
    assert prepared.start is not None and prepared.end is not None
    end = prepared.end.strftime("%Y-%m-%d %H:%M:%S")
    stored = int(client.sql(f"SELECT count(*) AS n FROM deployments WHERE finished_at <= TIMESTAMP '{end}'")["n"][0])
    if stored >= prepared.deployments:
        progress.line(f"history: reusing the {stored:,} deployments, their events, traces and metrics already stored")
        return
    progress.line(
        f"history: the first run was stopped during its backfill ({stored:,} of {prepared.deployments:,} "
        "deployments stored); sending the rest"
    )
    plan = build_plan(org, prepared.seed, _ns(prepared.start), _ns(prepared.end))
    actors = Actors.local(org)  # the same replay as the first run, to know what each deployment resolved to
    try:
        replay(org, plan, actors, progress)
    finally:
        actors.close()
    send_everything(org, plan, target, progress, stored_history(client, plan))


def send_everything(
    org: Organisation, plan: Plan, target: Target, progress: Progress, stored: Stored | None = None
) -> None:
    """The history over OTLP, then what the organisation's connectors file hands to GitHub and PagerDuty
    (``trellis.simulator.webhooks``), delivered as their webhooks; a delivery sent again counts once."""
    routes = read_routes(org.root)
    if routes is not None:
        choose(plan, routes)
    send_history(org, plan, target, progress, stored)
    if routes is not None:
        send_webhooks(plan, routes, target.api, progress)


def summary(org: Organisation, options: DemoOptions, dashboard: Child | None, seconds: float, live: bool) -> str:
    tokens = read_tokens(org.root / "tokens.yaml").tokens
    width = max(len(t.name) for t in tokens)
    users = "\n".join(
        f"  {t.name:<{width}}  {', '.join(s.value for s in t.scopes):<14} {t.token.get_secret_value()}"
        + (f"   (groups: {', '.join(t.groups)})" if t.groups else "")
        for t in tokens
    )
    viewer = next((t.token.get_secret_value() for t in tokens if t.name == "viewer"), "TOKEN")
    approver = next((t.token.get_secret_value() for t in tokens if "platform-admins" in t.groups), "TOKEN")
    lines = [
        "",
        f"Trellis demo ready in {seconds:.0f} s.",
        f"  dashboard  http://{HOST}:{options.dashboard_port}/   (sign in with a token below)"
        if dashboard
        else "  dashboard  not started",
        f"  API        {options.api}/api/v1/health",
        f"  OTLP       {options.endpoint} (HTTP), {HOST}:{options.otlp_grpc_port} (gRPC)",
        f"  database   {options.db}   (logs: {options.db.parent}/demo-*.log)",
        "",
        f"Demo users, from {display_path(org.root / 'tokens.yaml')} (public tokens: for this local demo only):",
        users,
        "",
        "Try, in another terminal:",
        f"  export TRELLIS_API={options.api} TRELLIS_TOKEN={viewer}",
        '  .venv/bin/trellis query "SELECT service_namespace, environment, deployment_frequency_band, lead_time_band,'
        " change_failure_rate_band, recovery_band FROM analytics_dora WHERE level = 'team' AND bucket = 'period'"
        ' AND production"',
        "  .venv/bin/trellis resources convergence pg-prod",
        "  .venv/bin/trellis resources pending",
        f"  TRELLIS_TOKEN={approver} .venv/bin/trellis resources approve redis-prod 3",
        "",
        "The organisation keeps running (deployments, incidents, metrics). Ctrl-C stops every process the demo started."
        if live
        else "Ctrl-C stops every process the demo started.",
    ]
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _hold_interrupts() -> None:
    """Ignore Ctrl-C, SIGTERM and SIGHUP from now on: the demo is stopping its children (each within
    ``stop_child``'s timeout), and an interrupt in the middle would leave them running."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)


def run_demo(options: DemoOptions, out: TextIO | None = None) -> None:
    """Run the demo until Ctrl-C (or until the collector stops); every process it started is stopped."""
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C stops the demo even when it was started with SIGINT ignored (a background job of a
        # script); SIGTERM and SIGHUP (unless nohup ignores it) stop it the same way
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signal.signal(signal.SIGHUP, _interrupt)
    progress = Progress(out)
    began = time.monotonic()
    org = load_organisation(options.data)
    prepared = prepare_database(org, options, progress)
    for note in prepared.notes:
        progress.line(note)
    children: list[Child] = []
    stop = threading.Event()
    target = Target(options.endpoint, options.api, org.token("ci-pipeline"))
    client = Client(url=options.api, token=target.token)
    try:
        collector = start_collector(org, options)
        children.append(collector)
        wait_healthy(collector, client)
        progress.line(f"collector: {options.api} on {options.db} (pid {collector.process.pid})")
        if prepared.plan is not None:
            send_everything(org, prepared.plan, target, progress)
        elif prepared.end is not None:
            complete_history(org, prepared, target, client, progress)
            reapply_catalog(org, options, progress)
        with Client(url=options.api, token=org.token("platform-admin")) as admin:
            run_analytics(admin, prepared.start, progress)
        dashboard = start_dashboard(options, progress) if options.dashboard else None
        if dashboard is not None:
            children.append(dashboard)

        def watch() -> None:
            for child in children:
                if child.process.poll() is not None and not child.reported:
                    child.reported = True
                    if child is collector:
                        raise SimulationError(
                            f"the collector stopped (exit {child.process.returncode}); see {child.log}"
                        )
                    progress.line(f"{child.name}: stopped (exit {child.process.returncode}); see {child.log}")

        ours = prepared.plan is not None or prepared.end is not None
        progress.line(summary(org, options, dashboard, time.monotonic() - began, options.live and ours))
        if options.live and not ours:
            progress.line("live: off, since the database does not hold the sample organisation")
        if options.live and ours:
            from trellis.simulator.run import simulate

            simulate(org, target, options.seed, live=True, speed=options.speed, progress=progress, stop=stop,
                     watch=watch, plan=prepared.plan)  # fmt: skip
        else:
            while not stop.wait(0.5):
                watch()
    except KeyboardInterrupt:
        pass
    finally:
        _hold_interrupts()  # a second Ctrl-C must not leave the children running half stopped
        stop.set()
        client.close()
        for child in reversed(children):
            stop_child(child)
        progress.line("demo stopped: " + (", ".join(f"{c.name} (pid {c.process.pid})" for c in children) or "nothing"))
