"""The sample organisation the simulator drives, read from ``sample_data/``.

Teams (``teams.yaml``), environments (the catalog's ``catalog/organisation.yaml``), workloads (Score files in
``workloads/<team>/``), delivery profiles, usage and metric resolution (``simulation.yaml``), the
catalog's history (``timeline.yaml``) and the demo users (``tokens.yaml``). Nothing here is random:
``trellis.simulator.plan`` turns an organisation and a seed into what happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trellis.catalog import DocumentError
from trellis.catalog.documents import read_path
from trellis.catalog.models import Environment as CatalogEnvironment

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DATA = ROOT / "sample_data"
"""The organisation ``trellis demo`` and ``trellis simulate`` use unless told otherwise."""

ACTIONS = ("apply", "onboard", "import_terraform", "criteria", "pins", "archive")


class SimulationError(RuntimeError):
    """The simulation cannot go on; the message says why in one line."""


@dataclass(frozen=True)
class Environment:
    id: str
    type: str
    region: str | None = None

    @property
    def production(self) -> bool:
        return self.type == "production"


@dataclass(frozen=True)
class Profile:
    """How a team delivers: cadence, rates per environment type, and how often and how long things break."""

    name: str
    cadence: str
    per_day: dict[str, float]
    every_days: dict[str, float]
    release_size: int
    succeed_every: int
    lead_time_hours: tuple[float, float]
    duration_minutes: tuple[float, float]
    failure_rate: float
    incident_rate: float
    recovery_minutes: tuple[float, float]
    fix_after_minutes: tuple[float, float] | None


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    owner: str
    profile: Profile


@dataclass(frozen=True)
class Usage:
    """CPU and memory use as a share of the request (ranges are drawn per workload from the seed)."""

    cpu: tuple[float, float]
    memory: tuple[float, float]
    restarts_every_days: float


@dataclass(frozen=True)
class Workload:
    app: str
    name: str
    path: Path
    score: dict[str, Any]
    container: str
    cpu_request: float
    memory_request: float
    cpu_limit: float
    memory_limit: float
    usage: Usage
    resources: dict[str, dict[str, Any]]

    @property
    def key(self) -> str:
        return f"{self.app}/{self.name}"


@dataclass(frozen=True)
class Step:
    """One thing the platform team did to the catalog (timeline.yaml)."""

    index: int
    day: float
    action: str
    value: Any
    actor: str
    approve_by: tuple[str, ...] = ()
    approve_after_hours: float = 0.0
    expires_day: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        if self.action == "apply":
            return f"apply {self.value}"
        if self.action == "import_terraform":
            return f"import {self.value}"
        if self.action == "criteria":
            return f"criteria for {', '.join(self.value)}"
        if self.action == "archive":
            return f"archive {self.value['definition']} v{self.value['version']}"
        return str(self.action)


@dataclass(frozen=True)
class MetricsConfig:
    backfill_minutes: int
    resource_backfill_minutes: int
    live_seconds: float


@dataclass
class Organisation:
    root: Path
    environments: list[Environment]
    teams: dict[str, Team]
    workloads: list[Workload]
    replicas: dict[str, int]
    non_production_load: float
    metrics: MetricsConfig
    span_days: float
    steps: list[Step]
    tokens: dict[str, str]

    def environment(self, env_id: str) -> Environment:
        return next(e for e in self.environments if e.id == env_id)

    def team_workloads(self, team: str) -> list[Workload]:
        return [w for w in self.workloads if w.app == team]

    def token(self, name: str) -> str:
        if name not in self.tokens:
            raise SimulationError(f"{self.root / 'tokens.yaml'}: no token named {name!r}")
        return self.tokens[name]


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SimulationError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SimulationError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None


def _get(raw: Any, key: str, where: str) -> Any:
    if not isinstance(raw, dict) or key not in raw:
        raise SimulationError(f"{where}: field {key} is required")
    return raw[key]


def _pair(value: Any, where: str) -> tuple[float, float]:
    if isinstance(value, int | float):
        return float(value), float(value)
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return float(value[0]), float(value[1])
    raise SimulationError(f"{where}: expected a number or [low, high], not {value!r}")


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_UNITS = {None: 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def cpu_cores(value: Any, where: str) -> float:
    """A Kubernetes CPU quantity (``500m``, ``1``, ``0.5``) in cores."""
    match = _CPU.match(str(value))
    if not match:
        raise SimulationError(f"{where}: {value!r} is not a CPU quantity such as 500m or 1")
    number = float(match.group(1))
    return number / 1000 if match.group(2) else number


def memory_bytes(value: Any, where: str) -> float:
    """A Kubernetes memory quantity (``512Mi``, ``1Gi``) in bytes."""
    match = _MEMORY.match(str(value))
    if not match:
        raise SimulationError(f"{where}: {value!r} is not a memory quantity such as 512Mi or 1Gi")
    return float(match.group(1)) * _MEMORY_UNITS[match.group(2)]


def _profile(name: str, raw: Any, where: str) -> Profile:
    cadence = _get(raw, "cadence", where)
    if cadence not in ("continuous", "releases", "release-train"):
        raise SimulationError(f"{where}: cadence {cadence!r} is not continuous, releases or release-train")
    fix = raw.get("fix_after_minutes")
    return Profile(
        name=name,
        cadence=cadence,
        per_day={k: float(v) for k, v in (raw.get("per_day") or {}).items()},
        every_days={k: float(v) for k, v in (raw.get("every_days") or {}).items()},
        release_size=int(raw.get("release_size", 1)),
        succeed_every=int(raw.get("succeed_every", 1)),
        lead_time_hours=_pair(_get(raw, "lead_time_hours", where), f"{where}.lead_time_hours"),
        duration_minutes=_pair(_get(raw, "duration_minutes", where), f"{where}.duration_minutes"),
        failure_rate=float(raw.get("failure_rate", 0.0)),
        incident_rate=float(raw.get("incident_rate", 0.0)),
        recovery_minutes=_pair(_get(raw, "recovery_minutes", where), f"{where}.recovery_minutes"),
        fix_after_minutes=_pair(fix, f"{where}.fix_after_minutes") if fix is not None else None,
    )


def _usage(raw: Any, default: Usage, where: str) -> Usage:
    raw = raw or {}
    return Usage(
        cpu=_pair(raw["cpu"], f"{where}.cpu") if "cpu" in raw else default.cpu,
        memory=_pair(raw["memory"], f"{where}.memory") if "memory" in raw else default.memory,
        restarts_every_days=float(raw.get("restarts_every_days", default.restarts_every_days)),
    )


def _workload(path: Path, app: str, usage: Usage) -> Workload:
    raw = _read(path)
    where = str(path)
    name = _get(_get(raw, "metadata", where), "name", where)
    containers = _get(raw, "containers", where)
    if not isinstance(containers, dict) or len(containers) != 1:
        raise SimulationError(f"{where}: the simulator expects exactly one container")
    container, spec = next(iter(containers.items()))
    resources = (spec or {}).get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    cpu_request = cpu_cores(_get(requests, "cpu", f"{where} containers.{container}.resources.requests"), where)
    memory_request = memory_bytes(_get(requests, "memory", f"{where} containers.{container}.resources.requests"), where)
    return Workload(
        app=app,
        name=name,
        path=path,
        score=raw,
        container=container,
        cpu_request=cpu_request,
        memory_request=memory_request,
        cpu_limit=cpu_cores(limits["cpu"], where) if "cpu" in limits else cpu_request * 2,
        memory_limit=memory_bytes(limits["memory"], where) if "memory" in limits else memory_request * 2,
        usage=usage,
        resources=dict(raw.get("resources") or {}),
    )


def _steps(raw: Any, where: str) -> list[Step]:
    steps = []
    for i, item in enumerate(_get(raw, "steps", where)):
        here = f"{where} steps[{i}]"
        actions = [a for a in ACTIONS if a in item]
        if len(actions) != 1:
            raise SimulationError(f"{here}: give exactly one of {', '.join(ACTIONS)}")
        approve = item.get("approve") or {}
        steps.append(
            Step(
                index=i,
                day=float(_get(item, "day", here)),
                action=actions[0],
                value=item[actions[0]],
                actor=str(item.get("actor", "platform-admin")),
                approve_by=tuple(approve.get("by") or ()),
                approve_after_hours=float(approve.get("after_hours", 1.0)),
                expires_day={str(k): float(v) for k, v in (item.get("expires_day") or {}).items()},
            )
        )
    return sorted(steps, key=lambda s: (s.day, s.index))


def _environments(path: Path) -> list[Environment]:
    """The catalog's Environment documents: the environments workloads deploy to."""
    try:
        documents = read_path(path)
    except DocumentError as exc:
        raise SimulationError(str(exc)) from None
    found = [
        Environment(doc.metadata.id, doc.spec.type, doc.metadata.labels.get("region"))
        for doc, _ in documents
        if isinstance(doc, CatalogEnvironment)
    ]
    if not found:
        raise SimulationError(f"{path}: no Environment document")
    return found


def load_organisation(root: Path = SAMPLE_DATA) -> Organisation:
    """Read the organisation in ``root``; every error names the file and the field."""
    if not root.is_dir():
        raise SimulationError(f"{root}: no such folder (the sample organisation lives in sample_data/)")
    environments = _environments(root / "catalog" / "organisation.yaml")
    sim_path = root / "simulation.yaml"
    sim = _read(sim_path)
    profiles = {
        name: _profile(name, raw, f"{sim_path} profiles.{name}")
        for name, raw in _get(sim, "profiles", str(sim_path)).items()
    }
    teams: dict[str, Team] = {}
    for raw in _get(_read(root / "teams.yaml"), "teams", str(root / "teams.yaml")):
        profile = str(_get(raw, "profile", "teams.yaml"))
        if profile not in profiles:
            raise SimulationError(f"{root / 'teams.yaml'}: team {raw.get('id')} names unknown profile {profile!r}")
        team_id = str(_get(raw, "id", "teams.yaml"))
        teams[team_id] = Team(team_id, str(raw.get("name", team_id)), str(raw.get("owner", team_id)), profiles[profile])
    usage_raw = _get(sim, "usage", str(sim_path))
    default = _usage(_get(usage_raw, "default", f"{sim_path} usage"), Usage((0.3, 0.6), (0.4, 0.7), 30.0), "default")
    overrides = usage_raw.get("workloads") or {}
    workloads = []
    for team_id in teams:
        folder = root / "workloads" / team_id
        for path in sorted(folder.glob("*.score.yaml")):
            key = f"{team_id}/{path.name.removesuffix('.score.yaml')}"
            usage = _usage(overrides.get(key), default, f"{sim_path} usage.workloads.{key}")
            workloads.append(_workload(path, team_id, usage))
    if not workloads:
        raise SimulationError(f"{root / 'workloads'}: no Score files (workloads/<team>/<workload>.score.yaml)")
    metrics = _get(sim, "metrics", str(sim_path))
    timeline_path = root / "timeline.yaml"
    timeline = _read(timeline_path)
    tokens_raw = _get(_read(root / "tokens.yaml"), "tokens", str(root / "tokens.yaml"))
    return Organisation(
        root=root,
        environments=environments,
        teams=teams,
        workloads=workloads,
        replicas={str(k): int(v) for k, v in _get(sim, "replicas", str(sim_path)).items()},
        non_production_load=float(usage_raw.get("non_production_load", 0.3)),
        metrics=MetricsConfig(
            backfill_minutes=int(metrics.get("backfill_minutes", 60)),
            resource_backfill_minutes=int(metrics.get("resource_backfill_minutes", 240)),
            live_seconds=float(metrics.get("live_seconds", 15)),
        ),
        span_days=float(timeline.get("span_days", 90)),
        steps=_steps(timeline, str(timeline_path)),
        tokens={str(t["name"]): str(t["token"]) for t in tokens_raw},
    )
