"""The catalog side of a simulation: replay the platform team's history and resolve every deployment.

Everything goes through the catalog's operations, with the catalog's ``CatalogClient``, as a named actor
from ``tokens.yaml``. ``Actors`` gives each actor its client, made on first use, one of two ways:

- ``Actors.local``: clients sharing one ``Catalog`` on its own DuckDB connection, built with the
  simulation's clock (``now=``), so versions, approvals, pins, bindings and misses carry the simulated
  past times. ``trellis demo`` replays into memory and copies the catalog tables into the database file
  before the collector starts (``write_catalog``).
- ``Actors.api``: clients of a running collector's API, each with its actor's token. The catalog stamps
  what it records with the time of the call, so a backfill through it keeps the order of the story but
  not its dates.

A deployment resolves its workload when its pipeline starts. While nothing that could change the
answer changed since the workload's last resolution in that environment (no current version of a
definition of one of its resource types that can serve its environment type, no pin of its own),
the deployment reuses that answer: the catalog would give the same one, and skipping the call keeps
a 90-day backfill fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

from trellis.catalog import Catalog, CatalogClient, CatalogError
from trellis.catalog.documents import DocumentError, read_path
from trellis.collector.auth import Authenticator, read_tokens
from trellis.collector.client import Client, ClientError
from trellis.simulator.model import ROOT, Organisation, SimulationError, Workload
from trellis.simulator.plan import NS, Action, Deployment, Plan

CI_ACTOR = "ci-pipeline"
MISS_MARKER = "no definition of type"
MARKER_TABLE = "simulation_runs"


def moment(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / NS, UTC)


def display_path(path: Path) -> str:
    """A path as the CLI would be given it from the repository root (recorded in provenance)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


class Clock:
    """The simulation's time, which a local catalog stamps on what it records (``Catalog(now=clock)``)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class Actors:
    """The organisation's people and pipeline at the catalog: a ``CatalogClient`` per actor, made on first use.

    ``catalog`` and ``clock`` are set for a local catalog only: what only it can do (follow the simulated
    time, expire pins when told) is skipped through an API, where the collector keeps its own time.
    """

    def __init__(
        self, open_client: Callable[[str], CatalogClient], catalog: Catalog | None = None, clock: Clock | None = None
    ) -> None:
        self.open_client, self.catalog, self.clock = open_client, catalog, clock
        self._clients: dict[str, CatalogClient] = {}

    @classmethod
    def local(cls, org: Organisation, con: duckdb.DuckDBPyConnection | None = None) -> Actors:
        """Clients of one catalog on ``con`` (a new in-memory database by default), on the simulation's clock."""
        clock = Clock()
        groups = Authenticator(read_tokens(org.root / "tokens.yaml")).groups()
        connection = con if con is not None else duckdb.connect(":memory:")
        catalog = Catalog(connection, groups=groups, deprecation_days=30, now=clock)
        return cls(lambda actor: CatalogClient(catalog=catalog, actor=actor), catalog, clock)

    @classmethod
    def api(cls, org: Organisation, api: str, token: str | None = None) -> Actors:
        """Clients of the collector at ``api``, each actor with its token from tokens.yaml (``token``, when
        given, for the CI pipeline)."""

        def open_client(actor: str) -> CatalogClient:
            key = token if actor == CI_ACTOR and token else org.token(actor)
            return CatalogClient(client=Client(url=api, token=key))

        return cls(open_client)

    def client(self, actor: str) -> CatalogClient:
        if actor not in self._clients:
            self._clients[actor] = self.open_client(actor)
        return self._clients[actor]

    def at(self, ns: int) -> None:
        """The simulated moment of the next calls (only a local catalog can follow it)."""
        if self.clock is not None:
            self.clock.now = moment(ns)

    def expire_pins(self) -> None:
        """Let a local catalog notice pins that ran out (a collector does it by itself)."""
        if self.catalog is not None:
            self.catalog.expire_pins()

    def current_versions(self) -> list[tuple[str, int, str, dict[str, Any]]]:
        """(definition, version, state, spec) of every active and deprecated version."""
        if self.catalog is not None:  # read straight from the tables: it runs after every catalog action
            rows = self.catalog.con.execute(
                "SELECT definition_id, version, state, spec FROM catalog_versions "
                "WHERE state IN ('active', 'deprecated')"
            ).fetchall()
            return [(r[0], int(r[1]), r[2], orjson.loads(r[3])) for r in rows]
        return [
            (definition["id"], int(v["version"]), v["state"], v["spec"])
            for definition in self.client(CI_ACTOR).call("definitions", {})["definitions"]
            for v in definition["versions"]
            if v["state"] in ("active", "deprecated")
        ]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        if self.catalog is not None:
            self.catalog.close()


def documents_payload(path: Path) -> dict[str, Any]:
    """The documents of a file or folder as an apply payload (as ``trellis resources apply`` sends it)."""
    try:
        documents = read_path(path)
    except DocumentError as exc:
        raise SimulationError(str(exc)) from None
    raws = []
    for doc, _ in documents:
        raw = doc.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        raw.setdefault("apiVersion", doc.apiVersion)
        raw.setdefault("kind", doc.kind)
        raws.append(raw)
    return {
        "documents": raws,
        "source": display_path(path),
        "locations": [[display_path(Path(source.file)), source.index] for _, source in documents],
    }


def resolve_payload(workload: Workload, env: str, env_type: str) -> dict[str, Any]:
    return {
        "workload": workload.score,
        "app": workload.app,
        "env": env,
        "env_type": env_type,
        "source": display_path(workload.path),
    }


def resource_entries(answer: dict[str, Any]) -> list[str]:
    """``trellis.resources`` of a deployment from a resolve answer: ``name=definition@version``."""
    return [f"{name}={r['definition']}@{r['version']}" for name, r in sorted(answer["resources"].items())]


@dataclass
class ReplayStats:
    steps: int = 0
    approvals: int = 0
    resolutions: int = 0
    reused: int = 0
    misses: int = 0


class Replay:
    """Walks a plan's catalog actions and deployments in time order, each call as its actor."""

    def __init__(
        self,
        org: Organisation,
        plan: Plan,
        actors: Actors,
        progress: Callable[[ReplayStats, int], None] | None = None,
    ) -> None:
        self.org, self.plan, self.actors, self.progress = org, plan, actors, progress
        self.workloads = {w.key: w for w in org.workloads}
        self.stats = ReplayStats()
        self._generation: dict[tuple[str, str], int] = {}
        self._fingerprints: dict[tuple[str, str], int] = {}
        self._cache: dict[tuple[str, str], tuple[tuple[int, ...], list[str]]] = {}
        self._pinned: dict[str, tuple[str, str]] = {}

    def run(self) -> ReplayStats:
        timeline: list[tuple[int, int, Action | Deployment]] = [(a.at, 0, a) for a in self.plan.actions]
        timeline += [(d.started, 1, d) for d in self.plan.deployments]
        timeline.sort(key=lambda item: (item[0], item[1]))
        for done, (at, _, item) in enumerate(timeline):
            self.actors.at(at)
            if isinstance(item, Action):
                self.action(item)
            else:
                self.deploy(item)
            if self.progress is not None and done % 200 == 0:
                self.progress(self.stats, done * 100 // max(len(timeline), 1))
        if self.progress is not None:
            self.progress(self.stats, 100)
        return self.stats

    # deployments -------------------------------------------------------------
    def resolve(self, workload: Workload, env: str, env_type: str, at: int) -> list[str] | str:
        """The workload's resources as resolved now, or the miss message."""
        try:
            answer = self.actors.client(CI_ACTOR).call("resolve", resolve_payload(workload, env, env_type))
        except (CatalogError, ClientError) as exc:
            if MISS_MARKER in str(exc):
                self.stats.misses += 1
                return str(exc).removeprefix("400: ")
            raise SimulationError(f"resolving {workload.key} in {env}: {exc}") from None
        self.stats.resolutions += 1
        self.plan.resolutions.setdefault((workload.key, env), []).append((at, answer["resources"]))
        entries = resource_entries(answer)
        self._cache[(workload.key, env)] = (self._generations(workload, env_type), entries)
        return entries

    def _generations(self, workload: Workload, env_type: str) -> tuple[int, ...]:
        types = sorted({str(r.get("type")) for r in workload.resources.values()})
        return tuple(self._generation.get((t, env_type), 0) for t in types)

    def _catalog_changed(self) -> None:
        """Note which (type, environment type) pairs could resolve differently after a catalog action."""
        buckets: dict[tuple[str, str], list[tuple[str, int, str]]] = {}
        env_types = sorted({e.type for e in self.org.environments})
        for definition_id, version, state, spec in self.actors.current_versions():
            criteria = spec.get("criteria") or []
            wanted = {c.get("env_type") for c in criteria}
            for env_type in env_types if None in wanted else sorted(w for w in wanted if w is not None):
                bucket = buckets.setdefault((spec["type"], env_type), [])
                bucket.append((definition_id, version, state + repr(criteria)))
        for key in set(buckets) | set(self._fingerprints):
            fingerprint = hash(tuple(sorted(buckets.get(key, []))))
            if self._fingerprints.get(key) != fingerprint:
                self._fingerprints[key] = fingerprint
                self._generation[key] = self._generation.get(key, 0) + 1

    def deploy(self, deployment: Deployment) -> None:
        cached = self._cache.get((deployment.key, deployment.env))
        workload = self.workloads[deployment.key]
        if cached is not None and cached[0] == self._generations(workload, deployment.env_type):
            self.stats.reused += 1
            deployment.resources = list(cached[1])
            return
        result = self.resolve(workload, deployment.env, deployment.env_type, deployment.started)
        if isinstance(result, str):
            deployment.blocked = result
        else:
            deployment.resources = result

    # catalog actions ---------------------------------------------------------
    def action(self, action: Action) -> None:
        step = action.step
        if action.kind == "approve":
            assert action.approver is not None
            self.approve(action.approver)
            for consumer in self._pinned.values():  # an approved pin takes effect now
                self._cache.pop(consumer, None)
        elif action.kind == "pin-expiry":
            self.actors.expire_pins()
            if action.pin in self._pinned:
                self._cache.pop(self._pinned[action.pin], None)
            return
        elif step.action == "onboard":
            self.onboard(action.at)
            return
        else:
            self.stats.steps += 1
            getattr(self, f"_{step.action}")(step.actor, step.value, action)
        self._catalog_changed()

    def onboard(self, at: int) -> None:
        """Every workload resolves once in every environment: the catalog learns its consumers."""
        n = 0
        for workload in self.org.workloads:
            for env in self.org.environments:
                self.actors.at(at + n * 2 * NS)
                n += 1
                if isinstance(self.resolve(workload, env.id, env.type, at), str):
                    self.plan.unserved.add((workload.key, env.id))

    def approve(self, approver: str) -> None:
        for pending in self.actors.client(approver).call("pending", {})["pending"]:
            payload = {
                "definition": pending["definition"],
                "version": pending["version"],
                "content_hash": pending["content_hash"],
            }
            try:
                self.actors.client(approver).call("approve", payload)
                self.stats.approvals += 1
            except (CatalogError, ClientError) as exc:
                if "already approved" in str(exc) or "proposed this change" in str(exc):
                    continue
                hint = " (the collector needs the demo users: --tokens-file sample_data/tokens.yaml)"
                raise SimulationError(
                    f"{approver} approving {pending['definition']}: {exc}" + (hint if "403" in str(exc) else "")
                ) from None

    def _apply(self, actor: str, value: Any, action: Action) -> None:
        self._call(actor, "apply", documents_payload(self.org.root / str(value)), action)

    def _import_terraform(self, actor: str, value: Any, action: Action) -> None:
        path = self.org.root / str(value)
        try:
            text = path.read_text()
        except OSError as exc:
            raise SimulationError(f"{path}: cannot read: {exc.strerror}") from None
        self._call(actor, "import", {"format": "terraform", "text": text, "file": display_path(path)}, action)

    def _criteria(self, actor: str, value: Any, action: Action) -> None:
        definitions = self.actors.client(actor).call("definitions", {})["definitions"]
        documents = []
        for address, criteria in dict(value).items():
            found = [d for d in definitions if _address(d) == address]
            if not found:
                raise SimulationError(
                    f"timeline step {action.step.index + 1}: no imported definition has address {address}"
                )
            definition = found[0]
            spec = {**definition["versions"][-1]["spec"], "criteria": list(criteria or [])}
            metadata = {"id": definition["id"]}
            if definition.get("description"):
                metadata["description"] = definition["description"]
            documents.append(
                {"apiVersion": "trellis/v1", "kind": "ResourceDefinition", "metadata": metadata, "spec": spec}
            )
        self._call(actor, "apply", {"documents": documents, "source": "timeline.yaml"}, action)

    def _pins(self, actor: str, value: Any, action: Action) -> None:
        payload = documents_payload(self.org.root / str(value))
        for document in payload["documents"]:
            pin_id = document["metadata"]["id"]
            spec = document["spec"]
            if pin_id in self.plan.pin_expiries:
                expires = moment(self.plan.pin_expiries[pin_id]).strftime("%Y-%m-%dT%H:%M:%SZ")
                document["spec"] = {**spec, "expires": expires}
            consumer = (f"{spec['app']}/{spec['workload']}", str(spec["env"]))
            self._pinned[pin_id] = consumer
            self._cache.pop(consumer, None)
        self._call(actor, "apply", payload, action)

    def _archive(self, actor: str, value: Any, action: Action) -> None:
        self._call(actor, "archive", {"definition": value["definition"], "version": int(value["version"])}, action)

    def _call(self, actor: str, name: str, payload: dict[str, Any], action: Action) -> Any:
        try:
            return self.actors.client(actor).call(name, payload)
        except (CatalogError, ClientError) as exc:
            raise SimulationError(f"timeline step {action.step.index + 1} ({action.step.describe()}): {exc}") from None


def _address(definition: dict[str, Any]) -> str | None:
    versions = definition.get("versions") or []
    if not versions:
        return None
    provenance = versions[-1]["spec"].get("provenance") or {}
    return provenance.get("address") if provenance.get("source") == "terraform" else None


def has_catalog(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database already holds catalog definitions."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE table_name = 'catalog_definitions' AND database_name = current_database()"
    ).fetchall()
    if not rows[0][0]:
        return False
    return bool(con.execute("SELECT count(*) FROM catalog_definitions").fetchall()[0][0])


def write_catalog(source: duckdb.DuckDBPyConnection, db: Path, marker: dict[str, Any]) -> None:
    """Copy every catalog table of an in-memory replay into ``db`` (held by no collector), with a marker row.

    One transaction: a demo stopped half-way leaves the file as it was.
    """
    from trellis.catalog import migrate_catalog

    db.parent.mkdir(parents=True, exist_ok=True)
    tables = [
        row[0]
        for row in source.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory' AND table_name LIKE 'catalog_%' "
            "AND table_name <> 'catalog_schema' ORDER BY table_name"
        ).fetchall()
    ]
    try:
        source.execute("ATTACH ? AS target", [os.fspath(db)])
    except duckdb.IOException as exc:
        raise SimulationError(f"cannot open {db}: {str(exc).splitlines()[0]} (is a collector running on it?)") from None
    try:
        source.execute("USE target")
        migrate_catalog(source)
        source.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (seed BIGINT, days DOUBLE, start_at TIMESTAMP, "
            "end_at TIMESTAMP, deployments BIGINT, incidents BIGINT, created_at TIMESTAMP)"
        )
        source.execute("BEGIN TRANSACTION")
        for table in tables:
            source.execute(f"INSERT INTO target.main.{table} SELECT * FROM memory.main.{table}")
        source.execute(
            f"INSERT INTO {MARKER_TABLE} VALUES (?, ?, ?, ?, ?, ?, now())",
            [
                marker["seed"],
                marker["days"],
                marker["start"],
                marker["end"],
                marker["deployments"],
                marker["incidents"],
            ],
        )
        source.execute("COMMIT")
    finally:
        source.execute("USE memory")
        source.execute("DETACH target")


__all__ = [
    "CI_ACTOR",
    "MARKER_TABLE",
    "MISS_MARKER",
    "Actors",
    "Clock",
    "Replay",
    "ReplayStats",
    "display_path",
    "documents_payload",
    "has_catalog",
    "moment",
    "resolve_payload",
    "resource_entries",
    "write_catalog",
]
