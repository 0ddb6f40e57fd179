"""What happens in a simulated period: deployments, incidents and catalog steps, from a seed.

``build_plan`` is a pure function of the organisation, the seed and the period: the same inputs
give the same plan, event for event. Every random choice comes from a ``random.Random`` seeded
with the seed and what it is for (``"7:deploy:payments:staging"``), so one team's schedule does
not move when another's changes. Times are Unix nanoseconds (UTC).

The catalog phase (``trellis.simulator.catalog``) later fills in what each deployment resolved to, and
which deployments the catalog could not serve (a miss stops the pipeline before it deploys).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trellis.simulator.model import Environment, Organisation, Profile, Step, Workload

NS = 1_000_000_000
MINUTE = 60 * NS
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@dataclass
class Deployment:
    id: str
    app: str
    workload: str
    env: str
    env_type: str
    started: int
    finished: int
    status: str
    first_commit: int
    kind: str
    revision: str = ""
    run_id: str = ""
    version: str = ""
    resources: list[str] | None = None
    """``name=definition@version`` for every resource, as the catalog resolved them."""
    blocked: str | None = None
    """Why the catalog could not serve the workload (a miss); the deployment then never happened."""
    via: str | None = None
    """The webhook source that reports it (``github``) in place of an OTLP event; None: OTLP."""

    @property
    def key(self) -> str:
        return f"{self.app}/{self.workload}"

    @property
    def happened(self) -> bool:
        return self.blocked is None


@dataclass
class Incident:
    id: str
    app: str
    workload: str
    env: str
    opened: int
    resolved: int | None
    caused_by: str
    via: str | None = None
    """The webhook source that reports it (``pagerduty``) in place of OTLP events; None: OTLP."""


@dataclass(frozen=True)
class Action:
    """A catalog step, an approval of what a step proposed, or a pin running out."""

    at: int
    kind: str
    step: Step
    approver: str | None = None
    pin: str | None = None


@dataclass(frozen=True)
class WorkloadUsage:
    cpu: float
    memory: float
    restarts_every_days: float


@dataclass
class Plan:
    seed: int
    start: int
    end: int
    factor: float
    """Catalog times are the timeline's days scaled by this (backfill days / timeline span)."""
    deploy_from: int
    deployments: list[Deployment]
    incidents: list[Incident]
    actions: list[Action]
    usage: dict[str, WorkloadUsage]
    pin_expiries: dict[str, int]
    resolutions: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    """Per (workload key, env): each resolution's time and answer (``resources`` of ``trellis resolve``)."""
    unserved: set[tuple[str, str]] = field(default_factory=set)
    """(workload key, env) that the catalog could not serve when the workloads were onboarded."""

    def happened(self) -> list[Deployment]:
        return [d for d in self.deployments if d.happened]

    def live_incidents(self) -> list[Incident]:
        """Incidents whose causing deployment happened."""
        done = {d.id for d in self.deployments if d.happened}
        return [i for i in self.incidents if i.caused_by in done]


def step_time(plan_end: int, factor: float, start: int, day: float) -> int:
    return max(start, plan_end + int(day * factor * DAY))


def _uniform(rng: random.Random, pair: tuple[float, float]) -> float:
    return rng.uniform(pair[0], pair[1])


def _actions(org: Organisation, start: int, end: int, factor: float) -> tuple[list[Action], dict[str, int]]:
    actions: list[Action] = []
    expiries: dict[str, int] = {}
    for step in org.steps:
        at = step_time(end, factor, start, step.day)
        actions.append(Action(at, "step", step))
        for i, approver in enumerate(step.approve_by):
            delay = (step.approve_after_hours + 0.4 * i) * factor * HOUR
            actions.append(Action(at + max(int(delay), (i + 1) * MINUTE), "approve", step, approver))
        for pin, day in step.expires_day.items():
            expiry = end + int(day * (factor if day < 0 else 1.0) * DAY)
            expiries[pin] = expiry
            if expiry < end:
                actions.append(Action(max(expiry, at + MINUTE), "pin-expiry", step, pin=pin))
    actions.sort(key=lambda a: (a.at, a.step.index, a.kind))
    return actions, expiries


def _schedule(
    profile: Profile, env: Environment, workloads: list[Workload], weights: list[float], rng: random.Random,
    begin: int, end: int,
) -> Iterator[tuple[int, Workload, str | None, int]]:  # fmt: skip
    """(finished, workload, forced status or None, release number) for one team in one environment."""
    if profile.cadence == "continuous":
        rate = profile.per_day.get(env.type, 0.0)
        t = begin
        while rate > 0:
            t += int(rng.expovariate(rate) * DAY)
            if t >= end:
                return
            yield t, rng.choices(workloads, weights)[0], None, 0
        return
    every = profile.every_days.get(env.type, 0.0)
    if every <= 0:
        return
    if profile.cadence == "releases":
        times = []
        t = end - int(rng.uniform(0, every) * DAY)
        while t > begin:
            times.append(t)
            t -= int(every * rng.uniform(0.8, 1.2) * DAY)
        for t in sorted(times):
            size = rng.randint(1, min(profile.release_size, len(workloads)))
            offset = t
            for workload in rng.sample(workloads, size):
                offset += int(rng.uniform(3, 12) * MINUTE)
                yield offset, workload, None, 0
        return
    # release-train: the whole team at once, anchored to the end so the story reads the same in any window
    phase = rng.uniform(0.1, 0.25) * every
    k = 0
    while (t := end - int((phase + k * every) * DAY)) > begin:
        forced = None
        if env.production and profile.succeed_every > 1:
            forced = "succeeded" if k % profile.succeed_every == 1 else "failed"
        offset = t
        for workload in workloads:
            offset += int(rng.uniform(2, 6) * MINUTE)
            yield offset, workload, forced, k + 1
        k += 1


def _revision(seed: int, text: str) -> str:
    return hashlib.sha1(f"{seed}:{text}".encode()).hexdigest()


def build_plan(org: Organisation, seed: int, start: int, end: int) -> Plan:
    """Every deployment, incident and catalog action in ``[start, end)``, the same for the same inputs."""
    if end <= start:
        raise ValueError("the period is empty")
    factor = (end - start) / DAY / org.span_days
    actions, expiries = _actions(org, start, end, factor)
    onboard = [a.at for a in actions if a.kind == "step" and a.step.action == "onboard"]
    deploy_from = (onboard[0] if onboard else start) + MINUTE
    deployments: list[Deployment] = []
    incidents: list[tuple[Deployment, int, int | None]] = []
    for team in org.teams.values():
        profile = team.profile
        workloads = org.team_workloads(team.id)
        if not workloads:
            continue
        weights_rng = random.Random(f"{seed}:weights:{team.id}")
        weights = [weights_rng.uniform(0.4, 1.6) for _ in workloads]
        for env in org.environments:
            rng = random.Random(f"{seed}:deploy:{team.id}:{env.id}")
            failed_release: set[int] = set()
            for finished, workload, forced, release in _schedule(
                profile, env, workloads, weights, rng, deploy_from, end
            ):
                started = finished - int(_uniform(rng, profile.duration_minutes) * MINUTE)
                if started < deploy_from or finished >= end:
                    continue
                status = forced or ("failed" if rng.random() < profile.failure_rate else "succeeded")
                lead = int(_uniform(rng, profile.lead_time_hours) * HOUR)
                deployment = Deployment(
                    "", team.id, workload.name, env.id, env.type, started, finished, status, finished - lead, "change"
                )
                deployments.append(deployment)
                if env.production:
                    if status == "succeeded" and rng.random() < profile.incident_rate:
                        opened = finished + int(rng.uniform(5, 90) * MINUTE)
                        incidents.append((deployment, opened, _resolved(rng, profile, opened)))
                    elif status == "failed" and release and release not in failed_release:
                        failed_release.add(release)
                        opened = finished + int(rng.uniform(10, 120) * MINUTE)
                        incidents.append((deployment, opened, _resolved(rng, profile, opened)))
                    elif status == "failed" and not release and rng.random() < 0.5:
                        opened = finished + int(rng.uniform(1, 10) * MINUTE)
                        incidents.append((deployment, opened, _resolved(rng, profile, opened)))
                if status == "failed" and profile.fix_after_minutes is not None:
                    fixed = finished + int(_uniform(rng, profile.fix_after_minutes) * MINUTE)
                    fix_started = fixed - int(_uniform(rng, profile.duration_minutes) * MINUTE)
                    if fixed < end:
                        first = finished + int(rng.uniform(2, 10) * MINUTE)
                        fix = Deployment(
                            "", team.id, workload.name, env.id, env.type, max(fix_started, first), fixed,
                            "succeeded", first, "fix",
                        )  # fmt: skip
                        deployments.append(fix)
    deployments.sort(key=lambda d: (d.finished, d.app, d.workload, d.env))
    _name(deployments, seed)
    plan_incidents = [
        Incident(f"INC-{1000 + i}", d.app, d.workload, d.env, opened, resolved, d.id)
        for i, (d, opened, resolved) in enumerate(sorted(incidents, key=lambda x: (x[1], x[0].finished)))
        if opened < end
    ]
    usage = {}
    for w in org.workloads:
        rng = random.Random(f"{seed}:usage:{w.key}")
        usage[w.key] = WorkloadUsage(
            _uniform(rng, w.usage.cpu), _uniform(rng, w.usage.memory), w.usage.restarts_every_days
        )
    return Plan(seed, start, end, factor, deploy_from, deployments, plan_incidents, actions, usage, expiries)


def _resolved(rng: random.Random, profile: Profile, opened: int) -> int | None:
    return opened + int(_uniform(rng, profile.recovery_minutes) * MINUTE)


def _name(deployments: list[Deployment], seed: int) -> None:
    """Ids, pipeline runs, revisions and versions, in the order the deployments finished."""
    seen: set[str] = set()
    builds: dict[str, int] = {}
    for n, d in enumerate(deployments):
        stamp = datetime.fromtimestamp(d.finished / NS, UTC).strftime("%Y%m%d%H%M%S")
        base = f"{d.workload}-{d.env}-{stamp}"
        d.id = base
        suffix = 1
        while d.id in seen:
            suffix += 1
            d.id = f"{base}-{suffix}"
        seen.add(d.id)
        d.run_id = str(40_000 + n)
        d.revision = _revision(seed, d.id)
        builds[d.key] = builds.get(d.key, 0) + 1
        build = builds[d.key]
        d.version = f"2.{build // 10}.{build % 10}"


def clip_resolved(plan: Plan, incident: Incident) -> int | None:
    """An incident's resolution if it happened before the end of the period."""
    return incident.resolved if incident.resolved is not None and incident.resolved < plan.end else None
