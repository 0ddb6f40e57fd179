"""Blast radius: which consumers a proposed change touches, with params and outputs diffed apart, where they
move, and the moves already pending from other changes, counted apart."""

from __future__ import annotations

from typing import Any

import pytest

from tests.catalog.conftest import OUTPUTS, Clock, apply_docs, definition, document, table_rows, workload
from trellis.catalog.blast_radius import plan as full_plan
from trellis.catalog.documents import Source, parse_document
from trellis.catalog.plan_text import headline
from trellis.catalog.service import Catalog


def proposed(*raws: dict[str, Any]) -> list[Any]:
    return [parse_document(raw, Source("plan.yaml", i)) for i, raw in enumerate(raws)]


def plan(catalog: Catalog, documents: list[Any]) -> list[dict[str, Any]]:
    """The consumers the change touches."""
    consumers: list[dict[str, Any]] = full_plan(catalog, documents)["consumers"]
    return consumers


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


def _row(app: str, workload: str, env: str = "prod", **change: Any) -> dict[str, Any]:
    base = {"app": app, "env": env, "workload": workload, "resource": "db", "definition_before": "orders",
            "version_before": 1, "definition_after": "orders", "version_after": None, "pinned": False,
            "params": {}, "outputs": {}, "driver": {}, "change": "changes"}  # fmt: skip
    return {**base, **change}


def test_changing_outputs_lists_every_consumer_with_the_diff(consumed: Catalog) -> None:
    before = table_rows(consumed.con)

    impact = plan(consumed, proposed(pg("v2")))

    diff = {"host": {"before": "v1", "after": "v2"}}
    assert impact == [
        _row("blog", "api", env="dev", outputs=diff),
        _row("shop", "api", outputs=diff),
        _row("shop", "worker", outputs=diff),
    ]
    assert table_rows(consumed.con) == before


def test_an_upgrade_that_keeps_the_outputs_still_reaches_every_consumer(consumed: Catalog) -> None:
    """Upgrading postgres 16 to 17, or resizing it, changes what every consumer gets at its next deployment."""
    apply_docs(consumed, pg("v1", params={"version": "16", "size": "small"}))

    answer = full_plan(consumed, proposed(pg("v1", params={"version": "17", "size": "large"})))

    params = {"size": {"before": "small", "after": "large"}, "version": {"before": "16", "after": "17"}}
    assert answer["consumers"] == [
        _row("blog", "api", env="dev", params=params, version_before=2),
        _row("shop", "api", params=params, version_before=2),
        _row("shop", "worker", params=params, version_before=2),
    ]
    assert answer["summary"] == {"consumers": 3, "apps": 2, "teams": 0, "environments": 2, "moves": 0, "pending": 3}


def test_moves_already_pending_from_other_changes_are_listed_apart(consumed: Catalog, clock: Clock) -> None:
    apply_docs(consumed, pg("v2"))  # activated; nobody deployed since
    clock.advance(minutes=1)
    consumed.resolve(workload("api"), "shop", "prod", "production")  # shop/api took v2

    answer = full_plan(consumed, proposed(pg("v2")))  # the same content as the active version

    assert answer["consumers"] == [], "proposing what is active already changes nothing"
    assert [(p["app"], p["workload"], p["recorded_version"], p["version"]) for p in answer["pending"]] == [
        ("blog", "api", 1, 2),
        ("shop", "worker", 1, 2),
    ]
    assert answer["summary"]["pending"] == 2


def test_a_change_of_criteria_alone_touches_nobody_it_keeps(consumed: Catalog) -> None:
    assert plan(consumed, proposed(pg("v1", criteria=[{}, {"env_type": "production"}]))) == []


def test_a_consumer_pinned_to_a_version_is_not_touched_until_its_pin_expires(consumed: Catalog, clock: Clock) -> None:
    from datetime import timedelta

    from tests.catalog.conftest import pin

    apply_docs(consumed, pin("hold", "orders", 1, clock.now + timedelta(days=3), app="shop", env="prod"))

    impact = plan(consumed, proposed(pg("v2")))

    assert [(c["app"], c["workload"]) for c in impact] == [("blog", "api"), ("shop", "worker")]


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
        ("api", "prod-db", "orders", "moves"),
        ("worker", "prod-db", "orders", "moves"),
    ], "shop/worker resolves to prod-db today (pending), so the change moves it back as well"


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


def test_a_driver_change_is_shown_with_its_outputs(catalog: Catalog) -> None:
    apply_docs(catalog, pg("v1"))
    catalog.resolve(workload("api"), "shop", "prod", "production")
    template = {**OUTPUTS["postgres"], "host": "{{ context.app }}.db"}

    [change] = plan(catalog, proposed(definition("orders", driver="template", outputs=template)))

    assert change["driver"] == {"before": "static", "after": "template"}
    assert change["outputs"] == {"host": {"before": "v1", "after": "shop.db"}}


def test_the_counts_name_the_teams_that_own_the_consumers(consumed: Catalog) -> None:
    apply_docs(
        consumed, document("Team", "shop-team", {"apps": ["shop"]}), document("Team", "blog-team", {"apps": ["blog"]})
    )

    answer = full_plan(consumed, proposed(pg("v2")))

    assert answer["summary"]["teams"] == 2

    assert (
        headline(answer["summary"])
        == "3 consumers in 2 apps of 2 teams and 2 environments change at their next deployment"
    )


def test_the_headline_counts_in_words_that_agree_with_their_numbers() -> None:
    one = {"consumers": 1, "apps": 1, "teams": 1, "environments": 1, "moves": 0}
    many = {"consumers": 60, "apps": 6, "teams": 6, "environments": 1, "moves": 0}

    assert headline(one) == "1 consumer in 1 app of 1 team and 1 environment changes at its next deployment"
    assert headline(many) == "60 consumers in 6 apps of 6 teams and 1 environment change at their next deployment"
