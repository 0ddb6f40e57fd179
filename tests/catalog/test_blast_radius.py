"""Blast radius: which consumers a proposed change touches, with the output diff or where they move."""

from __future__ import annotations

from typing import Any

import pytest

from tests.catalog.conftest import OUTPUTS, Clock, apply_docs, definition, table_rows, workload
from trellis.catalog.blast_radius import plan
from trellis.catalog.documents import Source, parse_document
from trellis.catalog.service import Catalog


def proposed(*raws: dict[str, Any]) -> list[Any]:
    return [parse_document(raw, Source("plan.yaml", i)) for i, raw in enumerate(raws)]


def pg(host: str, **kwargs: Any) -> dict[str, Any]:
    return definition("orders", outputs={**OUTPUTS["postgres"], "host": host}, **kwargs)


@pytest.fixture
def consumed(catalog: Catalog) -> Catalog:
    """``orders`` serves every postgres; shop/prod api+worker and blog/dev api consume it."""
    apply_docs(catalog, pg("v1"))
    catalog.resolve(workload("api"), "shop", "prod", "production")
    catalog.resolve(workload("worker"), "shop", "prod", "production")
    catalog.resolve(workload("api"), "blog", "dev", "development")
    return catalog


def test_changing_outputs_lists_every_consumer_with_the_diff(consumed: Catalog) -> None:
    before = table_rows(consumed.con)

    impact = plan(consumed, proposed(pg("v2")))

    diff = {"host": {"before": "v1", "after": "v2"}}
    assert impact == [
        {"app": "blog", "env": "dev", "workload": "api", "resource": "db", "definition_before": "orders",
         "version_before": 1, "definition_after": "orders", "change": "outputs", "outputs": diff},
        {"app": "shop", "env": "prod", "workload": "api", "resource": "db", "definition_before": "orders",
         "version_before": 1, "definition_after": "orders", "change": "outputs", "outputs": diff},
        {"app": "shop", "env": "prod", "workload": "worker", "resource": "db", "definition_before": "orders",
         "version_before": 1, "definition_after": "orders", "change": "outputs", "outputs": diff},
    ]  # fmt: skip
    assert table_rows(consumed.con) == before


def test_a_change_that_keeps_the_outputs_touches_nobody(consumed: Catalog) -> None:
    assert plan(consumed, proposed(pg("v1", params={"version": "16"}))) == []


def test_a_new_more_specific_definition_moves_the_consumers_it_captures(consumed: Catalog) -> None:
    impact = plan(consumed, proposed(definition("shop-db", criteria=[{"app_id": "shop"}])))

    moves = [(c["app"], c["workload"], c["definition_before"], c["definition_after"], c["change"]) for c in impact]
    assert moves == [("shop", "api", "orders", "shop-db", "moves"), ("shop", "worker", "orders", "shop-db", "moves")]


def test_narrowed_criteria_list_the_consumers_left_without_a_definition(consumed: Catalog) -> None:
    impact = plan(consumed, proposed(pg("v1", criteria=[{"env_type": "development"}])))

    assert [(c["app"], c["workload"], c["definition_after"], c["change"]) for c in impact] == [
        ("shop", "api", None, "unmatched"),
        ("shop", "worker", None, "unmatched"),
    ]


def test_criteria_moving_consumers_between_two_definitions(consumed: Catalog, clock: Clock) -> None:
    apply_docs(consumed, definition("prod-db", criteria=[{"env_type": "production"}]))
    clock.advance(minutes=1)
    consumed.resolve(workload("api"), "shop", "prod", "production")  # now on prod-db

    impact = plan(consumed, proposed(definition("prod-db", criteria=[{"env_id": "prod-eu"}])))

    assert [(c["workload"], c["definition_before"], c["definition_after"], c["change"]) for c in impact] == [
        ("api", "prod-db", "orders", "moves")
    ]


def test_template_outputs_are_diffed_per_consumer(catalog: Catalog) -> None:
    template = {**OUTPUTS["postgres"], "host": "{{ context.app }}-{{ context.env }}.db"}
    apply_docs(catalog, definition("orders", driver="template", outputs=template))
    catalog.resolve(workload("api"), "shop", "prod", "production")
    catalog.resolve(workload("api"), "blog", "dev", "development")

    changed = {**template, "host": "{{ context.app }}.{{ context.env }}.db.internal"}
    impact = plan(catalog, proposed(definition("orders", driver="template", outputs=changed)))

    assert [(c["app"], c["outputs"]) for c in impact] == [
        ("blog", {"host": {"before": "blog-dev.db", "after": "blog.dev.db.internal"}}),
        ("shop", {"host": {"before": "shop-prod.db", "after": "shop.prod.db.internal"}}),
    ]


def test_the_plan_uses_each_consumers_latest_binding(consumed: Catalog, clock: Clock) -> None:
    apply_docs(consumed, pg("v2"))
    clock.advance(minutes=1)
    consumed.resolve(workload("api"), "shop", "prod", "production")

    impact = plan(consumed, proposed(pg("v2")))

    assert [(c["app"], c["workload"], c["version_before"]) for c in impact] == [
        ("blog", "api", 1),
        ("shop", "worker", 1),
    ]
