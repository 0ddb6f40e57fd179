"""``trellis simulate``: the sample organisation in ``sample_data/``, driven over OTLP into a collector.

Seeded and deterministic: the same organisation, seed and period give the same deployments,
incidents, catalog history, spans, events and metric points. The pieces:

- ``model``: reads the organisation (teams, environments, Score workloads, profiles, the catalog's
  timeline, the demo users);
- ``plan``: what happens when (``build_plan``);
- ``catalog``: the catalog's history replayed through the catalog operations, and every deployment
  resolved at its time (``Replay``), each actor with its ``CatalogClient``, on a local catalog with
  the simulation's clock or through a collector's API;
- ``instances``: the pods and servers that run, and how busy they are;
- ``metric_history``: metric history as OTLP protobuf; ``signals``: events and pipeline spans through
  the SDK; ``otlp``: the instrumentation scope they share;
- ``send``: delivery, with retries while the collector is busy, and progress lines;
- ``webhooks``: GitHub and PagerDuty deliveries in place of some events (``trellis demo``);
- ``live``: ``--live``, the organisation in real time through the SDK ``MeterProvider``.

The simulator is a client of the floors below: it sends OTLP to the collector's receivers like
``trellis emit``, and reaches the catalog with the catalog's ``CatalogClient``, as the CLI does.
``trellis demo`` (``trellis/simulator/demo.py``) is its main user.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from trellis.collector import instant_sql
from trellis.collector.client import Client, ClientError, CollectorUnreachable
from trellis.simulator.catalog import CI_ACTOR, Actors, Replay, ReplayStats
from trellis.simulator.metric_history import metric_requests
from trellis.simulator.model import Organisation, SimulationError
from trellis.simulator.otlp import SCOPE_NAME
from trellis.simulator.plan import DAY, MINUTE, NS, Plan, build_plan
from trellis.simulator.send import MetricPoster, Progress, SignalExporter
from trellis.simulator.signals import history_signals

DEFAULT_SEED = 7
DEFAULT_SPEED = 10.0
SPAN_BATCH = 2000
EVENT_BATCH = 1000


@dataclass(frozen=True)
class Target:
    """Where a simulation goes: the OTLP/HTTP receiver and the API of one collector."""

    endpoint: str
    api: str
    token: str | None


def period_end(now_ns: int | None = None) -> int:
    """The end of a backfill that starts now: the current minute."""
    now = now_ns if now_ns is not None else time.time_ns()
    return now // MINUTE * MINUTE


def plan_backfill(org: Organisation, seed: int, days: float, end: int | None = None) -> Plan:
    if days <= 0:
        raise SimulationError("--backfill needs a number of days above 0")
    stop = period_end() if end is None else end
    return build_plan(org, seed, stop - int(days * DAY), stop)


def replay(org: Organisation, plan: Plan, actors: Actors, progress: Progress) -> ReplayStats:
    """The catalog's history and every deployment's resolution, with a progress line."""
    started = time.monotonic()

    def report(stats: ReplayStats, percent: int) -> None:
        progress.update(
            f"catalog: {percent:3d}%  {stats.steps} steps, {stats.approvals} approvals, "
            f"{stats.resolutions:,} resolutions ({stats.reused:,} reused), {stats.misses} misses",
            final=percent == 100,
        )

    stats = Replay(org, plan, actors, report).run()
    happened = len(plan.happened())
    progress.line(
        f"catalog: {len(plan.deployments):,} deployments planned, {happened:,} served by the catalog "
        f"({time.monotonic() - started:.1f} s)"
    )
    return stats


@dataclass
class SendStats:
    points: int = 0
    requests: int = 0
    retries: int = 0
    rejected: int = 0
    spans: int = 0
    events: int = 0
    seconds: float = 0.0


_OURS = f"scope_name = '{SCOPE_NAME}'"
"""The rows the simulator sent (its instrumentation scope), in SQL."""


@dataclass
class Stored:
    """What a collector already holds of a plan's history (an interrupted backfill)."""

    metric_days: set[int]
    spans: int
    events: int

    @classmethod
    def nothing(cls) -> Stored:
        return cls(set(), 0, 0)


def stored_history(client: Client, plan: Plan) -> Stored:
    """The days of metrics, and how many spans and events of the plan, the collector stored already."""
    end = instant_sql(plan.end)
    days = client.sql(
        f"SELECT DISTINCT (epoch_ns(time) - 1) // {DAY} AS day FROM otel_metrics_gauge WHERE {_OURS} AND time <= {end}"
    )
    spans = client.sql(f"SELECT count(*) AS n FROM otel_traces WHERE {_OURS} AND end_time <= {end}")
    events = client.sql(f"SELECT count(*) AS n FROM otel_logs WHERE {_OURS} AND time <= {end}")
    return Stored({int(d) for d in days["day"]}, int(spans["n"][0]), int(events["n"][0]))


def send_history(
    org: Organisation, plan: Plan, target: Target, progress: Progress, stored: Stored | None = None
) -> SendStats:
    """Send the plan's metric history, pipeline spans and events; deployments go last, so that a
    complete ``deployments`` table means a complete history. ``stored``: what an interrupted earlier
    attempt delivered, which is not sent again (each request is stored whole or not at all)."""
    stats = SendStats()
    stored = stored or Stored.nothing()
    started = time.monotonic()
    poster = MetricPoster(target.endpoint, target.token)
    days = max((plan.end - plan.start) / DAY - len(stored.metric_days), 1e-9)
    try:
        for day, points, request in metric_requests(plan, org):
            if day in stored.metric_days:
                continue
            poster.submit(request.SerializeToString(), points)
            stats.requests += 1
            elapsed = max(time.monotonic() - started, 1e-9)
            progress.update(
                f"metrics: {min(poster.answered / days, 1.0):4.0%}  {poster.sent:,} points stored, "
                f"{poster.sent / elapsed:,.0f}/s, {poster.retries} retries"
            )
        poster.flush()
    finally:
        poster.close()
    stats.points, stats.retries, stats.rejected = poster.sent, poster.retries, poster.rejected
    rate = stats.points / max(time.monotonic() - started, 1e-9)
    progress.update(
        f"metrics: 100%  {stats.points:,} points in {stats.requests} requests, {rate:,.0f}/s, "
        f"{stats.retries} retries" + (f", {stats.rejected} rejected" if stats.rejected else ""),
        final=True,
    )
    spans, logs = history_signals(plan)
    spans = spans[stored.spans // SPAN_BATCH * SPAN_BATCH :]
    logs = logs[stored.events // EVENT_BATCH * EVENT_BATCH :]
    exporter = SignalExporter(target.endpoint, target.token)
    try:
        exporter.export_spans(spans, SPAN_BATCH, done=lambda n: progress.update(f"traces: {n:,}/{len(spans):,} spans"))
        progress.update(f"traces: {len(spans):,} pipeline spans", final=True)
        exporter.export_logs(logs, EVENT_BATCH, done=lambda n: progress.update(f"events: {n:,}/{len(logs):,}"))
        progress.update(f"events: {len(logs):,} deployment and incident events", final=True)
    finally:
        exporter.close()
    stats.spans, stats.events = len(spans), len(logs)
    stats.seconds = time.monotonic() - started
    return stats


def wait_for(client: Client, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.health()
            return
        except CollectorUnreachable as exc:
            if time.monotonic() > deadline:
                raise SimulationError(f"the collector at {client.url} is not available: {exc}") from None
            time.sleep(0.3)
        except ClientError as exc:
            raise SimulationError(f"the collector at {client.url} is not available: {exc}") from None


def onboard_now(org: Organisation, seed: int, actors: Actors, progress: Progress) -> Plan:
    """A plan with no history, whose workloads have just resolved: what ``--live`` alone starts from."""
    now = time.time_ns()
    plan = build_plan(org, seed, now - DAY, now)
    plan.deployments, plan.incidents, plan.actions = [], [], []
    progress.line(f"live: resolving {len(org.workloads)} workloads in {len(org.environments)} environments")
    Replay(org, plan, actors).onboard(now)
    return plan


def refuse_a_second_history(client: Client) -> None:
    """A backfill sends the whole period again: into a collector that holds the simulator's history
    already (an earlier ``--backfill`` or ``trellis demo``), every point would be stored twice."""
    held = client.sql(
        f"SELECT count(*) AS n FROM (SELECT 1 FROM otel_metrics_gauge WHERE {_OURS} "
        f"UNION ALL SELECT 1 FROM otel_logs WHERE {_OURS} LIMIT 1)"
    )
    if int(held["n"][0]):
        raise SimulationError(
            "the collector already holds the sample organisation's history (from an earlier --backfill or "
            "trellis demo); a second backfill would store it twice: continue it with --live, "
            "or backfill a new database"
        )


def simulate(
    org: Organisation,
    target: Target,
    seed: int = DEFAULT_SEED,
    backfill_days: float | None = None,
    live: bool = False,
    speed: float = DEFAULT_SPEED,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    watch: Callable[[], None] | None = None,
    plan: Plan | None = None,
) -> None:
    """Drive a running collector: a backfill of ``backfill_days``, then (``live``) a steady stream.

    ``plan``: a backfill already sent (``trellis demo``), which the live stream continues.
    """
    progress = progress or Progress()
    if backfill_days is None and not live:
        raise SimulationError("choose --backfill DAYS, --live, or both")
    with Client(url=target.api, token=target.token) as client:
        wait_for(client)
        if backfill_days is not None:
            refuse_a_second_history(client)
    actors = Actors.api(org, target.api, target.token)
    try:
        catalog = actors.client(CI_ACTOR)  # the CI pipeline's: what a deployment resolves with
        if backfill_days is not None:
            plan = plan_backfill(org, seed, backfill_days)
            if catalog.call("definitions", {})["definitions"]:
                progress.line("catalog: the collector's catalog is not empty; its history is not replayed again")
                plan.actions = [a for a in plan.actions if a.kind == "step" and a.step.action == "onboard"]
            else:
                progress.line(
                    "catalog: replaying the catalog's history through the API (it records today's date for versions "
                    "and bindings; `trellis demo` keeps the simulated dates)"
                )
            replay(org, plan, actors, progress)
            send_history(org, plan, target, progress)
        if live:
            from trellis.simulator.live import Live

            if plan is None and not catalog.call("definitions", {})["definitions"]:
                raise SimulationError(
                    "the collector's catalog is empty: start with --backfill DAYS, which writes the sample catalog"
                )
            plan = plan if plan is not None else onboard_now(org, seed, actors, progress)
            Live(org, plan, catalog, target.endpoint, target.token, seed, speed, progress).run(
                stop or threading.Event(), watch
            )
    finally:
        actors.close()


__all__ = [
    "DEFAULT_SEED",
    "NS",
    "SendStats",
    "SimulationError",
    "Target",
    "period_end",
    "plan_backfill",
    "replay",
    "send_history",
    "simulate",
]
