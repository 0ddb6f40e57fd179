"""Matching: which definition serves a resource in a context, and why the others lost.

Class must match exactly (missing class = default); among matching rules the most specific wins,
ordered env_type < app_id < env_id < res_id; two definitions that could win the same context are refused.
"""

from __future__ import annotations

import pytest

from tests.catalog.conftest import apply_docs, definition, table_rows, workload
from trellis.catalog.matching import Context
from trellis.catalog.service import Catalog, CatalogError

LADDER = [
    definition("any-db", criteria=[{}], type_="dns", outputs={"host": "any"}),
    definition("by-env-type", criteria=[{"env_type": "production"}], type_="dns", outputs={"host": "by-env-type"}),
    definition("by-app", criteria=[{"app_id": "shop"}], type_="dns", outputs={"host": "by-app"}),
    definition("by-env", criteria=[{"env_id": "prod-eu"}], type_="dns", outputs={"host": "by-env"}),
    definition("by-res", criteria=[{"res_id": "api.dns"}], type_="dns", outputs={"host": "by-res"}),
]


@pytest.fixture
def ladder(catalog: Catalog) -> Catalog:
    apply_docs(catalog, *LADDER)
    return catalog


@pytest.mark.parametrize(
    ("app", "env", "env_type", "res_id", "winner"),
    [
        ("shop", "prod-eu", "production", "api.dns", "by-res"),
        ("shop", "prod-eu", "production", "web.dns", "by-env"),
        ("shop", "prod-us", "production", "web.dns", "by-app"),
        ("blog", "prod-us", "production", "web.dns", "by-env-type"),
        ("blog", "dev-1", "development", "web.dns", "any-db"),
        # each level beats every lower level on its own
        ("blog", "dev-1", "development", "api.dns", "by-res"),
        ("blog", "prod-eu", "development", "web.dns", "by-env"),
        ("shop", "dev-1", "development", "web.dns", "by-app"),
    ],
)
def test_the_most_specific_matching_rule_wins(
    ladder: Catalog, app: str, env: str, env_type: str, res_id: str, winner: str
) -> None:
    explanation = ladder.explain("dns", "default", Context(app, env, env_type, res_id))

    assert explanation.winner is not None
    assert explanation.winner.definition_id == winner


def test_a_higher_level_beats_any_combination_of_lower_levels(catalog: Catalog) -> None:
    apply_docs(
        catalog,
        definition("three-low", type_="dns", criteria=[{"env_type": "production", "app_id": "shop"}]),
        definition("env-only", type_="dns", criteria=[{"env_id": "prod-eu"}]),
        definition("all-but-res", type_="dns", criteria=[{"env_type": "production", "app_id": "shop", "env_id": "x"}]),
        definition("res-only", type_="dns", criteria=[{"res_id": "api.dns"}]),
    )
    ctx = Context("shop", "prod-eu", "production", "web.dns")
    assert catalog.explain("dns", "default", ctx).winner.definition_id == "env-only"  # type: ignore[union-attr]

    ctx = Context("shop", "x", "production", "api.dns")
    assert catalog.explain("dns", "default", ctx).winner.definition_id == "res-only"  # type: ignore[union-attr]

    ctx = Context("shop", "x", "production", "web.dns")
    assert catalog.explain("dns", "default", ctx).winner.definition_id == "all-but-res"  # type: ignore[union-attr]


def test_more_fields_at_the_same_top_level_are_more_specific(catalog: Catalog) -> None:
    apply_docs(
        catalog,
        definition("shop", type_="dns", criteria=[{"app_id": "shop"}]),
        definition("shop-prod", type_="dns", criteria=[{"app_id": "shop", "env_type": "production"}]),
    )

    prod = catalog.explain("dns", "default", Context("shop", "p", "production", "a.b"))
    dev = catalog.explain("dns", "default", Context("shop", "d", "development", "a.b"))

    assert prod.winner is not None and prod.winner.definition_id == "shop-prod"
    assert dev.winner is not None and dev.winner.definition_id == "shop"


def test_a_definition_uses_its_own_most_specific_matching_rule(catalog: Catalog) -> None:
    apply_docs(
        catalog,
        definition("multi", type_="dns", criteria=[{}, {"env_id": "prod-eu"}]),
        definition("by-app", type_="dns", criteria=[{"app_id": "shop"}]),
    )

    explanation = catalog.explain("dns", "default", Context("shop", "prod-eu", "production", "a.dns"))

    assert explanation.winner is not None
    assert explanation.winner.definition_id == "multi"
    assert explanation.winner.rule.env_id == "prod-eu"


@pytest.mark.parametrize(
    "ctx",
    [
        Context("shop", "prod-eu", "production", "api.db"),
        Context("blog", "dev-1", "development", "shared.main"),
        Context("x", "y", "z", "w.v"),
    ],
)
def test_a_rule_with_no_fields_matches_every_context_of_its_class(catalog: Catalog, ctx: Context) -> None:
    apply_docs(catalog, definition("catch-all", criteria=[{}]), definition("large", criteria=[{"class": "large"}]))

    default = catalog.explain("postgres", "default", ctx).winner
    large = catalog.explain("postgres", "large", ctx).winner

    assert default is not None and default.definition_id == "catch-all"
    assert large is not None and large.definition_id == "large"
    assert catalog.explain("postgres", "small", ctx).winner is None


def test_class_must_match_exactly_and_a_missing_class_is_default(catalog: Catalog) -> None:
    apply_docs(
        catalog,
        definition("standard", criteria=[{"env_type": "production"}]),
        definition(
            "large", criteria=[{"class": "large"}], outputs={**definition("x")["spec"]["outputs"], "host": "big"}
        ),
    )
    app = workload(
        "api",
        {
            "db": {"type": "postgres"},
            "big": {"type": "postgres", "class": "large"},
            "huge": {"type": "postgres", "class": "huge"},
        },
    )

    with pytest.raises(CatalogError) as caught:
        catalog.resolve(app, "shop", "prod", "production")
    assert "resource huge: no definition of type postgres and class huge matches" in str(caught.value)

    app = workload("api", {"db": {"type": "postgres"}, "big": {"type": "postgres", "class": "large"}})
    resources = catalog.resolve(app, "shop", "prod", "production")["resources"]
    assert resources["db"]["definition"] == "standard"
    assert resources["db"]["class"] == "default"
    assert resources["big"]["definition"] == "large"
    assert resources["big"]["outputs"]["host"] == "big"

    lines = catalog.explain("postgres", "large", Context("shop", "prod", "production", "api.db")).lines()
    assert "standard: no rule matches ({class=default, env_type=production}: class default is not large)" in lines


def test_a_rule_without_class_serves_only_the_default_class(catalog: Catalog) -> None:
    apply_docs(catalog, definition("default-only", criteria=[{"app_id": "shop"}]))

    explanation = catalog.explain("postgres", "large", Context("shop", "p", "production", "api.db"))

    assert explanation.winner is None
    assert explanation.considered == [
        ("default-only", "no rule matches ({class=default, app_id=shop}: class default is not large)")
    ]


def test_types_never_compete(catalog: Catalog) -> None:
    apply_docs(catalog, definition("pg", criteria=[{}]), definition("cache", type_="redis", criteria=[{}]))

    explanation = catalog.explain("redis", "default", Context("shop", "p", "production", "api.cache"))

    assert explanation.winner is not None and explanation.winner.definition_id == "cache"
    assert [name for name, _ in explanation.considered] == []


def test_shared_resources_match_shared_id_and_private_ones_workload_dot_resource(catalog: Catalog) -> None:
    apply_docs(
        catalog,
        definition("orders-shared", criteria=[{"res_id": "shared.orders"}], outputs={**_pg(), "host": "orders"}),
        definition("api-private", criteria=[{"res_id": "api.db"}], outputs={**_pg(), "host": "api-private"}),
        definition("fallback", criteria=[{}], outputs={**_pg(), "host": "fallback"}),
    )
    resources = {"db": {"type": "postgres"}, "orders": {"type": "postgres", "id": "orders"}}

    api = catalog.resolve(workload("api", resources), "shop", "prod", "production")["resources"]
    worker = catalog.resolve(workload("worker", resources), "shop", "prod", "production")["resources"]

    assert api["db"]["definition"] == "api-private"
    assert api["orders"]["definition"] == "orders-shared"
    assert worker["db"]["definition"] == "fallback"
    assert worker["orders"]["definition"] == "orders-shared"
    rows = catalog.repo.rows("SELECT workload, resource, res_id FROM catalog_bindings ORDER BY workload, resource")
    assert rows == [
        ("api", "db", "api.db"),
        ("api", "orders", "shared.orders"),
        ("worker", "db", "worker.db"),
        ("worker", "orders", "shared.orders"),
    ]


def _pg() -> dict[str, str]:
    return dict(definition("x")["spec"]["outputs"])


def test_a_second_definition_that_could_win_the_same_context_is_refused_naming_both(catalog: Catalog) -> None:
    apply_docs(catalog, definition("orders-db", criteria=[{"env_type": "production", "app_id": "shop"}]))
    before = table_rows(catalog.con)

    with pytest.raises(CatalogError) as caught:
        apply_docs(catalog, definition("shop-db", criteria=[{"app_id": "shop", "env_type": "production"}]))

    message = str(caught.value)
    assert "orders-db" in message and "shop-db" in message
    assert "field spec.criteria" in message
    assert "{class=default, env_type=production, app_id=shop}" in message
    assert table_rows(catalog.con) == before


def test_the_conflict_is_refused_within_one_file_too(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        apply_docs(catalog, definition("first", criteria=[{}]), definition("second", criteria=[{}]), file="both.yaml")

    assert str(caught.value).startswith("both.yaml (document 2): field spec.criteria:")
    assert "first" in str(caught.value) and "second" in str(caught.value)
    assert catalog.repo.definition_ids() == []


def test_a_pending_proposal_also_blocks_a_conflicting_definition(catalog: Catalog) -> None:
    from tests.catalog.conftest import production_approval_rule

    apply_docs(catalog, production_approval_rule(), definition("prod-db", criteria=[{"env_type": "production"}]))
    assert catalog.active("prod-db") is None

    with pytest.raises(CatalogError, match="prod-db"):
        apply_docs(catalog, definition("other-prod-db", criteria=[{"env_type": "production"}]))


@pytest.mark.parametrize(
    "other",
    [
        definition("cache", type_="redis", criteria=[{"app_id": "shop"}]),
        definition("big", criteria=[{"app_id": "shop", "class": "large"}]),
        definition("shop-prod", criteria=[{"app_id": "shop", "env_type": "production"}]),
        definition("blog", criteria=[{"app_id": "blog"}]),
    ],
    ids=["other-type", "other-class", "more-specific", "other-value"],
)
def test_rules_that_never_tie_are_accepted(catalog: Catalog, other: dict[str, object]) -> None:
    apply_docs(catalog, definition("shop", criteria=[{"app_id": "shop"}]))

    changes = apply_docs(catalog, other)

    assert [c.action for c in changes] == ["created"]


def test_a_definition_may_restate_its_own_rules(catalog: Catalog) -> None:
    apply_docs(catalog, definition("shop", criteria=[{"app_id": "shop"}]))

    changes = apply_docs(catalog, definition("shop", criteria=[{"app_id": "shop"}], params={"version": "16"}))

    assert changes[0].action == "proposed"
    assert catalog.active("shop").version == 2  # type: ignore[union-attr]


def test_explain_says_why_the_winner_won_and_why_each_candidate_lost(ladder: Catalog) -> None:
    apply_docs(ladder, definition("blog-only", type_="dns", criteria=[{"app_id": "blog"}, {"env_id": "blog-prod"}]))
    apply_docs(ladder, definition("no-criteria", type_="dns", criteria=[]))

    explanation = ladder.explain("dns", "default", Context("shop", "prod-eu", "production", "web.dns"))

    assert explanation.winner is not None
    assert explanation.lines() == [
        "by-env wins with rule {class=default, env_id=prod-eu}",
        "blog-only: no rule matches ({class=default, app_id=blog}: app_id blog is not shop; "
        "{class=default, env_id=blog-prod}: env_id blog-prod is not prod-eu)",
        "by-res: no rule matches ({class=default, res_id=api.dns}: res_id api.dns is not web.dns)",
        "no-criteria: no rule matches (it has no matching criteria)",
        "by-app: rule {class=default, app_id=shop} matches but is less specific",
        "by-env-type: rule {class=default, env_type=production} matches but is less specific",
        "any-db: rule {class=default} matches but is less specific",
    ]


def test_explain_without_a_winner_lists_every_candidate(ladder: Catalog) -> None:
    explanation = ladder.explain("dns", "internal", Context("shop", "prod-eu", "production", "api.dns"))

    assert explanation.winner is None
    assert sorted(name for name, _ in explanation.considered) == sorted(d["metadata"]["id"] for d in LADDER)
    assert all("class default is not internal" in reason for _, reason in explanation.considered)


def test_only_active_versions_compete(catalog: Catalog) -> None:
    from tests.catalog.conftest import production_approval_rule

    apply_docs(catalog, production_approval_rule(), definition("dev", criteria=[{"env_type": "development"}]))
    apply_docs(catalog, definition("prod", criteria=[{"env_type": "production"}]))

    assert catalog.explain("postgres", "default", Context("shop", "p", "production", "a.db")).winner is None
    catalog.approve("prod", 1, "bob")
    catalog.approve("prod", 1, "carol")
    winner = catalog.explain("postgres", "default", Context("shop", "p", "production", "a.db")).winner
    assert winner is not None and winner.definition_id == "prod"
