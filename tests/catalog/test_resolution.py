"""Resolving workloads: the answer's shape, bindings and misses, and properties that hold for any catalog."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.catalog.conftest import (
    OUTPUTS,
    apply_docs,
    definition,
    environments,
    new_catalog,
    score,
    table_rows,
    workload,
)
from trellis.catalog.documents import DocumentError
from trellis.catalog.matching import CRITERIA_FIELDS, Context
from trellis.catalog.score import parse_workload
from trellis.catalog.service import Catalog, CatalogError, ResolveError


def test_the_answer_has_the_documented_shape(catalog: Catalog) -> None:
    apply_docs(
        catalog,
        *environments(prod="production"),
        definition("orders", outputs={**OUTPUTS["postgres"], "host": "orders"}),
        definition("cache", type_="redis", criteria=[{"class": "large"}]),
    )
    app = workload("api", {"db": {"type": "postgres"}, "cache": {"type": "redis", "class": "large"}})

    answer = catalog.resolve(app, "shop", "prod", "production")

    assert answer == {
        "workload": "api",
        "app": "shop",
        "env": "prod",
        "resources": {
            "cache": {"type": "redis", "class": "large", "definition": "cache", "version": 1,
                      "outputs": OUTPUTS["redis"]},
            "db": {"type": "postgres", "class": "default", "definition": "orders", "version": 1,
                   "outputs": {**OUTPUTS["postgres"], "host": "orders"}},
        },
        "env_type": "production",
        "warnings": [],
    }  # fmt: skip


SPLIT = [
    definition("prod-db", criteria=[{"env_type": "production"}], outputs={**OUTPUTS["postgres"], "host": "prod"}),
    definition("dev-db", criteria=[{"env_type": "development"}], outputs={**OUTPUTS["postgres"], "host": "dev"}),
]


def test_the_environment_type_is_the_catalogs_not_the_callers(catalog: Catalog) -> None:
    """A caller once resolved production-eu as development and got the development database."""
    apply_docs(catalog, *environments(**{"production-eu": "production", "dev": "development"}), *SPLIT)
    before = table_rows(catalog.con)

    with pytest.raises(CatalogError) as lied:
        catalog.resolve(workload(), "shop", "production-eu", "development")
    with pytest.raises(CatalogError) as unknown:
        catalog.resolve(workload(), "shop", "production-us", "production")
    assert table_rows(catalog.con) == before
    answer = catalog.resolve(workload(), "shop", "production-eu")

    assert str(lied.value) == "environment production-eu is production, not development: its type is the catalog's"
    assert str(unknown.value) == "environment production-us is not registered (registered: dev, production-eu)"
    assert unknown.value.status == 404
    assert (answer["env_type"], answer["resources"]["db"]["definition"]) == ("production", "prod-db")


def test_the_gate_and_explain_look_the_type_up_as_well(catalog: Catalog) -> None:
    from trellis.catalog.api import run_operation
    from trellis.catalog.operations import OPERATIONS

    apply_docs(catalog, *environments(**{"production-eu": "production"}), *SPLIT)
    base = {"workload": score(), "app": "shop", "env": "production-eu"}

    with pytest.raises(CatalogError, match="is production, not development"):
        run_operation(catalog, OPERATIONS["check"], "ci", {**base, "env_type": "development"})
    allowed = run_operation(catalog, OPERATIONS["check"], "ci", base)
    explained = run_operation(
        catalog, OPERATIONS["explain"], "ci",
        {"type": "postgres", "app": "shop", "env": "production-eu", "res_id": "api.db"},
    )  # fmt: skip

    assert allowed["decision"] == "allow"
    assert explained["definition"] == "prod-db"


def test_before_any_environment_is_registered_the_claim_is_taken_with_a_warning(catalog: Catalog) -> None:
    apply_docs(catalog, *SPLIT)

    answer = catalog.resolve(workload(), "shop", "anywhere", "development")
    with pytest.raises(CatalogError, match="no env type was given"):
        catalog.resolve(workload(), "shop", "anywhere")

    assert answer["resources"]["db"]["definition"] == "dev-db"
    assert answer["warnings"] == [
        "no environment is registered, so the type development of anywhere is the caller's word: register "
        "environments (kind: Environment) to make it the catalog's"
    ]


def test_resolving_records_a_binding_per_resource(catalog: Catalog) -> None:
    apply_docs(catalog, definition("orders"))
    app = workload("api", {"db": {"type": "postgres", "params": {"size": "large"}}})

    catalog.resolve(app, "shop", "prod-eu", "production")

    cursor = catalog.con.execute("SELECT * FROM catalog_bindings")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert len(rows) == 1
    row = rows[0]
    assert {k: row[k] for k in names if k not in ("params", "outputs", "resolved_at")} == {
        "workload": "api", "app": "shop", "env": "prod-eu", "env_type": "production", "resource": "db",
        "res_id": "api.db", "type": "postgres", "class": "default", "definition_id": "orders", "version": 1,
        "pinned": False,
    }  # fmt: skip
    assert orjson.loads(row["params"]) == {"size": "large"}
    assert orjson.loads(row["outputs"]) == OUTPUTS["postgres"]
    assert row["resolved_at"] == catalog.now()


def test_a_miss_names_type_class_and_context_and_is_recorded(catalog: Catalog) -> None:
    apply_docs(catalog, definition("orders", criteria=[{"env_type": "development"}]))
    app = workload("api", {"db": {"type": "postgres", "class": "large"}, "cache": {"type": "redis", "id": "sessions"}})

    with pytest.raises(ResolveError) as caught:
        catalog.resolve(app, "shop", "prod-eu", "production")

    assert str(caught.value) == (
        "resource cache: no definition of type redis and class default matches app shop, env prod-eu (production), "
        "res_id shared.sessions; "
        "resource db: no definition of type postgres and class large matches app shop, env prod-eu (production), "
        "res_id api.db"
    )
    misses = catalog.repo.rows(
        "SELECT workload, app, env, env_type, resource, type, class, reason FROM catalog_misses ORDER BY resource"
    )
    assert [m[:7] for m in misses] == [
        ("api", "shop", "prod-eu", "production", "cache", "redis", "default"),
        ("api", "shop", "prod-eu", "production", "db", "postgres", "large"),
    ]
    assert misses[1][7].startswith("resource db: no definition of type postgres and class large")


def test_resolving_without_recording_writes_nothing(catalog: Catalog) -> None:
    apply_docs(catalog, definition("orders", criteria=[{"env_type": "development"}]))

    catalog.resolve(workload(), "shop", "dev", "development", record=False)
    with pytest.raises(ResolveError):
        catalog.resolve(workload(), "shop", "prod", "production", record=False)

    assert catalog.repo.rows("SELECT count(*) FROM catalog_bindings") == [(0,)]
    assert catalog.repo.rows("SELECT count(*) FROM catalog_misses") == [(0,)]


def test_workload_params_are_checked_against_the_types_schema(catalog: Catalog) -> None:
    apply_docs(catalog, definition("orders", params={"backup_retention_days": 7}))
    app = workload("api", {"db": {"type": "postgres", "params": {"backup_retention_days": "forever"}}})

    with pytest.raises(CatalogError, match=r"field resources\.db\.params\.backup_retention_days: 'forever' is not of"):
        catalog.resolve(app, "shop", "prod", "production")
    assert catalog.repo.rows("SELECT count(*) FROM catalog_bindings") == [(0,)]


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"db": {"type": "postgres", "colour": "red"}}, "field resources.db.colour: Extra inputs are not permitted"),
        ({"db": {"class": "large"}}, "field resources.db.type: Field required"),
    ],
)
def test_a_score_file_with_a_bad_resource_names_the_field(resources: dict[str, Any], expected: str) -> None:
    with pytest.raises(DocumentError, match=f"^api.yaml: {expected}"):
        parse_workload(score("api", resources), "api.yaml")


# properties -------------------------------------------------------------------------------------------------

ENV_TYPES = ("development", "production")
APPS = ("shop", "blog")
ENVS = ("dev-1", "prod-1")
RES_IDS = ("api.db", "shared.main")

RULES = st.fixed_dictionaries(
    {},
    optional={
        "class": st.just("large"),
        "env_type": st.sampled_from(ENV_TYPES),
        "app_id": st.sampled_from(APPS),
        "env_id": st.sampled_from(ENVS),
        "res_id": st.sampled_from(RES_IDS),
    },
)
CONTEXTS = st.tuples(
    st.sampled_from(("default", "large")),
    st.sampled_from(ENV_TYPES),
    st.sampled_from(APPS),
    st.sampled_from(ENVS),
    st.booleans(),  # shared resource (res_id shared.main) or private (api.db)
)


@st.composite
def definition_sets(draw: st.DrawFn, unique_rules: bool) -> dict[str, list[dict[str, str]]]:
    """Definitions ``d0``..``d3`` with 1+ rules each; with ``unique_rules`` no two share a rule (no conflicts)."""
    rules = draw(st.lists(RULES, min_size=1, max_size=8, unique_by=_key if unique_rules else None))
    owners = draw(st.lists(st.integers(0, 3), min_size=len(rules), max_size=len(rules)))
    found: dict[str, list[dict[str, str]]] = {}
    for rule, owner in zip(rules, owners, strict=True):
        found.setdefault(f"d{owner}", []).append(rule)
    return found


def _key(rule: dict[str, str]) -> tuple[str | None, ...]:
    return (rule.get("class", "default"), *(rule.get(name) for name in CRITERIA_FIELDS))


def _specificity(rule: dict[str, str]) -> tuple[bool, ...]:
    return tuple(rule.get(name) is not None for name in reversed(CRITERIA_FIELDS))


def _definition(definition_id: str, rules: list[dict[str, str]]) -> dict[str, Any]:
    return definition(definition_id, type_="dns", criteria=rules, outputs={"host": f"{definition_id}.example.com"})


def _catalog(definitions: dict[str, list[dict[str, str]]], order: list[str]) -> tuple[Catalog, list[str]]:
    """A catalog with the definitions applied one by one in ``order``; returns those it accepted."""
    catalog = new_catalog()
    accepted = []
    for definition_id in order:
        try:
            apply_docs(catalog, _definition(definition_id, definitions[definition_id]))
            accepted.append(definition_id)
        except CatalogError as exc:
            assert "field spec.criteria" in str(exc) and "both could win the same context" in str(exc)
    return catalog, accepted


def _outcome(catalog: Catalog, ctx: tuple[str, str, str, str, bool]) -> tuple[Any, ...]:
    class_, env_type, app, env, shared = ctx
    resource: dict[str, Any] = {"type": "dns", "class": class_}
    if shared:
        resource["id"] = "main"
    try:
        result = catalog.resolve(workload("api", {"db": resource}), app, env, env_type)
    except ResolveError as exc:
        return ("miss", str(exc))
    r = result["resources"]["db"]
    return ("hit", r["definition"], r["version"], r["outputs"]["host"])


@settings(max_examples=20, deadline=None)
@given(definitions=definition_sets(unique_rules=True), data=st.data(), contexts=st.lists(CONTEXTS, max_size=6))
def test_resolution_is_deterministic_whatever_the_order_definitions_were_applied(
    definitions: dict[str, list[dict[str, str]]], data: st.DataObject, contexts: list[tuple[Any, ...]]
) -> None:
    order = list(definitions)
    shuffled = data.draw(st.permutations(order))
    first, accepted_first = _catalog(definitions, order)
    second, accepted_second = _catalog(definitions, shuffled)

    assert sorted(accepted_first) == sorted(accepted_second) == sorted(definitions)
    for ctx in contexts:
        answer = _outcome(first, ctx)
        assert _outcome(second, ctx) == answer
        assert _outcome(first, ctx) == answer


@settings(max_examples=30, deadline=None)
@given(definitions=definition_sets(unique_rules=False), contexts=st.lists(CONTEXTS, min_size=1, max_size=6))
def test_exactly_one_definition_wins_with_the_most_specific_matching_rule_or_the_miss_is_explicit(
    definitions: dict[str, list[dict[str, str]]], contexts: list[tuple[Any, ...]]
) -> None:
    catalog, accepted = _catalog(definitions, sorted(definitions))

    for ctx in contexts:
        class_, env_type, app, env, shared = ctx
        res_id = "shared.main" if shared else "api.db"
        context = {"env_type": env_type, "app_id": app, "env_id": env, "res_id": res_id}
        matching = [
            (_specificity(rule), definition_id, rule)
            for definition_id in accepted
            for rule in definitions[definition_id]
            if rule.get("class", "default") == class_
            and all(rule.get(name) in (None, context[name]) for name in CRITERIA_FIELDS)
        ]
        outcome = _outcome(catalog, ctx)
        if not matching:
            assert outcome[0] == "miss"
            assert f"no definition of type dns and class {class_} matches app {app}, env {env} ({env_type}), " \
                   f"res_id {res_id}" in outcome[1]  # fmt: skip
            continue
        best = max(spec for spec, _, _ in matching)
        holders = {definition_id for spec, definition_id, _ in matching if spec == best}
        assert len(holders) == 1, f"{holders} tie for {ctx}: the catalog let a conflict in"
        (winner,) = holders
        assert outcome == ("hit", winner, 1, f"{winner}.example.com")
        explained = catalog.explain("dns", class_, Context(app, env, env_type, res_id)).winner
        assert explained is not None
        assert explained.definition_id == winner
        assert _specificity({k: v for k, v in zip(CRITERIA_FIELDS, explained.rule.key()[1:], strict=True) if v}) == best
    misses = catalog.repo.rows("SELECT count(*) FROM catalog_misses")[0][0]
    assert misses == sum(1 for ctx in contexts if _outcome_was_miss(definitions, accepted, ctx))


def _outcome_was_miss(definitions: dict[str, list[dict[str, str]]], accepted: list[str], ctx: tuple[Any, ...]) -> bool:
    class_, env_type, app, env, shared = ctx
    context = {"env_type": env_type, "app_id": app, "env_id": env, "res_id": "shared.main" if shared else "api.db"}
    return not any(
        rule.get("class", "default") == class_ and all(rule.get(n) in (None, context[n]) for n in CRITERIA_FIELDS)
        for definition_id in accepted
        for rule in definitions[definition_id]
    )
