"""Jobs asked about some teams and environments: a connection of the request's own that sees only their rows.

A sliced connection shadows the store's event and signal tables with temporary views of the same names
that keep the rows of the teams and environments asked about, so every job, whichever way it reads
(``Sources.scan``, SQL, the usage pass over the stored rows), computes from those rows alone, every
level included (a DORA platform row is then the platform of those teams). Temporary views belong to the
connection: requests asking about different teams at once do not see each other's.

A team is the resource's ``service.namespace`` (else ``k8s.namespace.name``, for metrics), as the jobs
name it; an environment is ``deployment.environment.name``. The catalog's bindings and misses are sliced by
their ``app`` and ``env`` (a workload's team and environment); its definitions, versions and pins are the
platform's own, so what a job reads from them covers the whole platform, and an answer says so
(``UNSLICED``).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from trellis.collector import RESOURCES_TABLE, stored_table

SIGNAL_TABLES = (
    "otel_metrics_gauge",
    "otel_metrics_sum",
    "otel_metrics_histogram",
    "otel_metrics_exponential_histogram",
    "otel_metrics_summary",
    "otel_logs",
    "otel_traces",
)
EVENT_TABLES = ("deployments", "incidents")
ROLLUP_TABLES = ("rollup_usage_hourly",)
CATALOG_TABLES = ("catalog_bindings", "catalog_misses")
SLICED = (*EVENT_TABLES, *SIGNAL_TABLES, *ROLLUP_TABLES, *CATALOG_TABLES)
"""Tables whose rows a slice keeps to its teams and environments."""
UNSLICED = "the catalog's definitions, versions and pins are the whole platform's"


@dataclass(frozen=True)
class Slice:
    """Teams and environments asked about; empty means all."""

    teams: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return not self.teams and not self.environments

    def condition(self, team: str, environment: str) -> str:
        """SQL keeping the rows of these teams and environments, given how a table names them ($teams, $envs)."""
        parts = [f"{team} IN (SELECT unnest($teams))"] if self.teams else []
        parts += [f"{environment} IN (SELECT unnest($envs))"] if self.environments else []
        return " AND ".join(parts) or "TRUE"

    def params(self) -> dict[str, list[str]]:
        return {
            **({"teams": list(self.teams)} if self.teams else {}),
            **({"envs": list(self.environments)} if self.environments else {}),
        }


def sliced_cursor(con: duckdb.DuckDBPyConnection, slice_: Slice) -> duckdb.DuckDBPyConnection:
    """A new connection to ``con``'s database that sees only the rows of ``slice_`` in ``SLICED`` tables."""
    cursor = con.cursor()
    narrow(cursor, slice_)
    return cursor


def narrow(cursor: duckdb.DuckDBPyConnection, slice_: Slice) -> None:
    """Shadow ``cursor``'s ``SLICED`` tables with views of ``slice_``'s rows (nothing for every team)."""
    if slice_.everything:
        return
    database = cursor.execute("SELECT current_database()").fetchall()[0][0]
    present = {name for (name,) in cursor.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    present |= {name for (name,) in cursor.execute("SELECT view_name FROM duckdb_views()").fetchall()}

    def shadow(name: str, where: str) -> None:
        if name in present:
            source = f'"{database}".main."{name}"'
            cursor.execute(f'CREATE TEMP VIEW "{name}" AS SELECT * FROM {source} WHERE {_inline(where, slice_)}')

    for name in EVENT_TABLES:
        shadow(name, slice_.condition("service_namespace", "environment"))
    resource_team = "coalesce(service_namespace, k8s_namespace_name)"
    for name in SIGNAL_TABLES:
        shadow(name, slice_.condition(resource_team, "deployment_environment_name"))
        resources = f'SELECT resource_id FROM "{database}".main.{RESOURCES_TABLE} WHERE '
        kept = resources + slice_.condition(resource_team, "deployment_environment_name")
        shadow(stored_table(name), f"resource_id IN ({kept})")
    for name in ROLLUP_TABLES:
        shadow(name, slice_.condition("team", "environment"))
    for name in CATALOG_TABLES:
        shadow(name, slice_.condition("app", "env"))


def _inline(where: str, slice_: Slice) -> str:
    """``where`` with $teams and $envs written as list literals: a view's text cannot hold parameters. Each
    value is a SQL string literal (quotes doubled), so a name cannot end the literal."""
    for name, values in slice_.params().items():
        where = where.replace(f"${name}", "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]")
    return where


__all__ = ["SLICED", "UNSLICED", "Slice", "narrow", "sliced_cursor"]
