"""Convergence: who runs a definition's active version, who lags behind and for how long.

A consumer's version comes from its latest succeeded deployment (the collector's ``deployments`` table,
``resources`` entries ``RESOURCE=DEFINITION@VERSION``) or, when it has not deployed since, its latest binding.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb
import pytest

from tests.catalog.conftest import OUTPUTS, Clock, apply_docs, definition, workload
from trellis.catalog.convergence import convergence
from trellis.catalog.service import Catalog
from trellis.collector.schema import migrate


def pg(host: str) -> dict[str, object]:
    return definition("orders", outputs={**OUTPUTS["postgres"], "host": host})


def summary(result: dict[str, object]) -> list[tuple[object, ...]]:
    rows = result["rows"]
    assert isinstance(rows, list)
    return [
        (r["app"], r["env"], r["workload"], r["version"], r["source"], r["on_active"], r["behind_days"]) for r in rows
    ]


@pytest.fixture
def with_deployments(con: duckdb.DuckDBPyConnection, make_catalog: Callable[..., Catalog]) -> Catalog:
    """A catalog in a database that also has the collector's tables."""
    migrate(con)
    return make_catalog(con=con)


Deploy = Callable[..., None]


@pytest.fixture
def deploy(con: duckdb.DuckDBPyConnection) -> Deploy:
    counter = iter(range(1, 1_000))

    def insert(app: str, env: str, service: str, at: datetime, resources: list[str] | None,
               status: str = "succeeded") -> None:  # fmt: skip
        con.execute(
            "INSERT INTO deployments (deployment_id, status, environment, service_name, service_namespace, "
            "finished_at, resources) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [f"dep-{next(counter)}", status, env, service, app, at.replace(tzinfo=None), resources],
        )

    return insert


def test_consumers_on_the_active_and_older_versions_from_bindings(catalog: Catalog, clock: Clock) -> None:
    apply_docs(catalog, pg("v1"))
    for name in ("api", "worker"):
        catalog.resolve(workload(name), "shop", "prod", "production")
    clock.advance(days=1)
    apply_docs(catalog, pg("v2"))
    activated = clock.now
    clock.advance(hours=1)
    catalog.resolve(workload("api"), "shop", "prod", "production")

    clock.now = activated + timedelta(days=3)
    result = convergence(catalog, "orders")

    assert (result["active_version"], result["consumers"], result["on_active"], result["share_on_active"]) == (
        2, 2, 1, 0.5,
    )  # fmt: skip
    assert summary(result) == [
        ("shop", "prod", "api", 2, "binding", True, 0.0),
        ("shop", "prod", "worker", 1, "binding", False, 3.0),
    ]


def test_a_definition_nobody_uses_has_no_share(catalog: Catalog) -> None:
    apply_docs(catalog, pg("v1"))

    result = convergence(catalog, "orders")

    assert (result["consumers"], result["share_on_active"], result["rows"]) == (0, None, [])


def test_the_latest_succeeded_deployment_says_which_version_runs(
    with_deployments: Catalog, clock: Clock, deploy: Deploy
) -> None:
    catalog = with_deployments
    apply_docs(catalog, pg("v1"))
    catalog.resolve(workload("api"), "shop", "prod", "production")  # bound to v1 at START
    clock.advance(days=2)
    apply_docs(catalog, pg("v2"))
    activated = clock.now

    # api deployed v2 after its binding; worker deployed v1 and then failed to deploy v2; the blog never resolved
    deploy("shop", "prod", "api", activated + timedelta(hours=1), ["db=orders@2", "cache=sessions@4"])
    deploy("shop", "prod", "worker", activated - timedelta(days=1), ["db=orders@1"])
    deploy("shop", "prod", "worker", activated + timedelta(hours=2), ["db=orders@2"], status="failed")
    deploy("blog", "staging", "web", activated - timedelta(days=5), ["main=orders@1"])
    deploy("blog", "staging", "web", activated - timedelta(days=4), ["main=other@1"])
    deploy("blog", "dev", "web", activated, None)

    clock.now = activated + timedelta(days=4, hours=12)
    result = convergence(catalog, "orders")

    assert summary(result) == [
        ("shop", "prod", "api", 2, "deployment", True, 0.0),
        ("shop", "prod", "worker", 1, "deployment", False, 4.5),
    ]
    assert result["share_on_active"] == 0.5


def test_a_binding_newer_than_the_last_deployment_wins(with_deployments: Catalog, clock: Clock, deploy: Deploy) -> None:
    catalog = with_deployments
    apply_docs(catalog, pg("v1"))
    deploy("shop", "prod", "api", clock.now, ["db=orders@1"])
    clock.advance(days=1)
    apply_docs(catalog, pg("v2"))
    clock.advance(hours=1)
    catalog.resolve(workload("api"), "shop", "prod", "production")

    assert summary(convergence(catalog, "orders")) == [("shop", "prod", "api", 2, "binding", True, 0.0)]


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York", "UTC"])
def test_bindings_and_deployments_compare_in_utc_whatever_the_session_time_zone(
    with_deployments: Catalog, clock: Clock, deploy: Deploy, zone: str
) -> None:
    """Deployment times are UTC; binding times must be compared in UTC too, not in the session's local time."""
    catalog = with_deployments
    catalog.con.execute(f"SET TimeZone = '{zone}'")
    start = clock.now
    apply_docs(catalog, pg("v1"))
    catalog.resolve(workload("api"), "shop", "prod", "production")  # api bound to v1 at start
    clock.advance(hours=1)
    apply_docs(catalog, pg("v2"))
    deploy("shop", "prod", "api", start + timedelta(hours=4), ["db=orders@2"])  # 4h after api's binding
    deploy("shop", "prod", "worker", start + timedelta(hours=2), ["db=orders@1"])  # 3h before worker's binding
    clock.now = start + timedelta(hours=5)
    catalog.resolve(workload("worker"), "shop", "prod", "production")  # worker bound to v2

    rows = summary(convergence(catalog, "orders"))

    assert rows == [
        ("shop", "prod", "api", 2, "deployment", True, 0.0),
        ("shop", "prod", "worker", 2, "binding", True, 0.0),
    ]
