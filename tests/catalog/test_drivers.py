"""Drivers: static outputs as written, template outputs rendered in a sandbox, secrets only as references."""

from __future__ import annotations

import pytest

from tests.catalog.conftest import OUTPUTS, apply_docs, definition, workload
from trellis.catalog.builtin_types import BUILTIN_TYPES
from trellis.catalog.drivers import DRIVERS, DriverError, is_secret_reference, secret_outputs_are_references
from trellis.catalog.matching import Context
from trellis.catalog.models import DefinitionSpec
from trellis.catalog.service import Catalog, CatalogError

TEMPLATE_OUTPUTS = {
    "host": "{{ params.size }}-{{ context.app }}-{{ context.env }}.{{ context.env_type }}.db.internal",
    "port": "{{ params.port | default(5432) }}",
    "name": "{{ context.workload }}",
    "username": "{{ context.res_id | replace('.', '_') }}",
    "password": "${secret:vault/{{ context.app }}/{{ context.env }}/db#password}",
}


def test_static_outputs_are_given_as_written(catalog: Catalog) -> None:
    apply_docs(catalog, definition("orders", outputs={**OUTPUTS["postgres"], "host": "orders.rds.amazonaws.com"}))

    outputs = catalog.resolve(workload(), "shop", "prod", "production")["resources"]["db"]["outputs"]

    assert outputs == {**OUTPUTS["postgres"], "host": "orders.rds.amazonaws.com"}


def test_template_outputs_render_from_params_and_context(catalog: Catalog) -> None:
    apply_docs(catalog, definition("tmpl", driver="template", outputs=TEMPLATE_OUTPUTS, params={"size": "small"}))

    outputs = catalog.resolve(workload("api"), "shop", "prod-eu", "production")["resources"]["db"]["outputs"]

    assert outputs == {
        "host": "small-shop-prod-eu.production.db.internal",
        "port": "5432",
        "name": "api",
        "username": "api_db",
        "password": "${secret:vault/shop/prod-eu/db#password}",
    }


def test_workload_params_override_the_definitions_params(catalog: Catalog) -> None:
    apply_docs(catalog, definition("tmpl", driver="template", outputs=TEMPLATE_OUTPUTS, params={"size": "small"}))
    app = workload("api", {"db": {"type": "postgres", "params": {"size": "large", "port": 6432}}})

    outputs = catalog.resolve(app, "shop", "dev", "development")["resources"]["db"]["outputs"]

    assert outputs["host"] == "large-shop-dev.development.db.internal"
    assert outputs["port"] == "6432"


def test_a_shared_resource_renders_its_shared_id(catalog: Catalog) -> None:
    apply_docs(catalog, definition("tmpl", driver="template", outputs=TEMPLATE_OUTPUTS, params={"size": "s"}))
    app = workload("api", {"db": {"type": "postgres", "id": "orders"}})

    outputs = catalog.resolve(app, "shop", "dev", "development")["resources"]["db"]["outputs"]

    assert outputs["username"] == "shared_orders"


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ params.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ context.app.format.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ range.__self__ }}",
    ],
)
def test_a_template_that_tries_to_escape_the_sandbox_fails_safely(catalog: Catalog, escape: str) -> None:
    outputs = {**TEMPLATE_OUTPUTS, "host": escape}
    apply_docs(catalog, definition("evil", driver="template", outputs=outputs, params={"size": "s"}))

    with pytest.raises(CatalogError) as caught:
        catalog.resolve(workload(), "shop", "prod", "production")

    message = str(caught.value)
    assert message.startswith("resource db: definition evil: output host cannot be rendered:")
    assert any(word in message for word in ("is unsafe", "undefined", "has no attribute"))
    assert "<class" not in message and "<module" not in message and "uid=" not in message
    assert catalog.repo.rows("SELECT count(*) FROM catalog_bindings") == [(0,)]


def test_an_undefined_variable_names_the_output(catalog: Catalog) -> None:
    outputs = {**TEMPLATE_OUTPUTS, "name": "{{ params.db }}"}
    apply_docs(catalog, definition("tmpl", driver="template", outputs=outputs, params={"size": "s"}))

    with pytest.raises(CatalogError, match="output name cannot be rendered: 'dict object' has no attribute 'db'"):
        catalog.resolve(workload(), "shop", "prod", "production")


def test_a_template_that_does_not_parse_is_refused_when_written(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        apply_docs(catalog, definition("tmpl", driver="template", outputs={**TEMPLATE_OUTPUTS, "port": "{{ port "}))

    assert "field spec.outputs: output port is not a valid template" in str(caught.value)
    assert catalog.repo.definition_ids() == []


@pytest.mark.parametrize(
    ("driver", "password"),
    [
        ("static", "hunter2"),
        ("static", "${secret:}"),
        ("static", "prefix ${secret:vault/db#password}"),
        ("template", "{{ params.password }}"),
        ("template", "hunter2"),
    ],
)
def test_a_secret_output_in_clear_text_is_refused_naming_the_output(
    catalog: Catalog, driver: str, password: str
) -> None:
    outputs = {**(TEMPLATE_OUTPUTS if driver == "template" else OUTPUTS["postgres"]), "password": password}

    with pytest.raises(CatalogError) as caught:
        apply_docs(catalog, definition("leaky", driver=driver, outputs=outputs, params={"password": "hunter2"}))

    assert "field spec.outputs: output password is secret" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert catalog.repo.definition_ids() == []


def test_a_template_whose_secret_renders_to_clear_text_is_refused_at_resolve(catalog: Catalog) -> None:
    outputs = {**TEMPLATE_OUTPUTS, "password": "${secret:vault/db#pw}{{ params.suffix }}"}
    apply_docs(catalog, definition("sneaky", driver="template", outputs=outputs, params={"size": "s"}))
    app = workload("api", {"db": {"type": "postgres", "params": {"suffix": " hunter2"}}})

    with pytest.raises(CatalogError) as caught:
        catalog.resolve(app, "shop", "prod", "production")

    assert "output password is secret but did not render to a ${secret:...} reference" in str(caught.value)
    assert catalog.repo.rows("SELECT count(*) FROM catalog_bindings") == [(0,)]


@pytest.mark.parametrize(
    "reference",
    ["${secret:vault/prod/db#password}", "${secret:aws-sm/orders_db}", "${secret:k8s/ns.name/secret-1#key.1}"],
)
def test_secret_references_are_accepted_and_passed_through(catalog: Catalog, reference: str) -> None:
    apply_docs(catalog, definition("ok", outputs={**OUTPUTS["postgres"], "password": reference}))

    outputs = catalog.resolve(workload(), "shop", "prod", "production")["resources"]["db"]["outputs"]

    assert outputs["password"] == reference


def test_outputs_must_be_those_of_the_type(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match=r"field spec\.outputs: outputs sslmode are not declared by type postgres"):
        apply_docs(catalog, definition("extra", outputs={**OUTPUTS["postgres"], "sslmode": "require"}))


def test_the_drivers_work_without_a_catalog() -> None:
    rtype = BUILTIN_TYPES["redis"]
    spec = DefinitionSpec.model_validate(
        {"type": "redis", "driver": "template", "params": {"memory_mb": 256},
         "outputs": {"host": "redis-{{ context.env }}", "port": "{{ params.memory_mb * 0 + 6379 }}",
                     "password": "${secret:vault/{{ context.app }}/redis}"}}
    )  # fmt: skip
    ctx = Context("shop", "prod", "production", "api.cache", "api")

    DRIVERS["template"].check(spec, rtype)
    outputs = DRIVERS["template"].outputs(spec, ctx, dict(spec.params))

    assert outputs == {"host": "redis-prod", "port": "6379", "password": "${secret:vault/shop/redis}"}
    secret_outputs_are_references(outputs, rtype)
    with pytest.raises(DriverError, match="output password is secret"):
        secret_outputs_are_references({**outputs, "password": "clear"}, rtype)
    assert is_secret_reference("${secret:vault/x#y}")
    assert not is_secret_reference("${secret:vault/x#y} ")
    assert not is_secret_reference(None)


BOMBS = {
    "a range past the sandbox's limit": ("{{ range(100001)|length }}", "Range too big"),
    "terabytes of text": ("{{ 'x' * 10**13 }}", "needs more than 256 MiB"),
    "half a gigabyte": ("{{ ('x' * 10**7) * 50 }}", "needs more than 256 MiB"),
    "a long output": ("{{ 'x' * 100000 }}", "renders 100,000 characters, more than 65,536"),
    "hours of loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "took longer than 2 s",
    ),
}


@pytest.mark.parametrize("bomb", BOMBS)
def test_a_template_bomb_is_refused_in_one_sentence_and_the_next_render_works(catalog: Catalog, bomb: str) -> None:
    template, reason = BOMBS[bomb]
    apply_docs(catalog, definition("bomb", driver="template", outputs={**TEMPLATE_OUTPUTS, "host": template},
                                   criteria=[{"app_id": "shop"}]))  # fmt: skip
    apply_docs(
        catalog,
        definition(
            "tmpl", driver="template", outputs=TEMPLATE_OUTPUTS, params={"size": "s"}, criteria=[{"app_id": "blog"}]
        ),
    )

    with pytest.raises(CatalogError) as caught:
        catalog.resolve(workload(), "shop", "prod", "production")
    after = catalog.resolve(workload(), "blog", "prod", "production")

    message = str(caught.value)
    assert message.startswith("resource db: definition bomb: output host cannot be rendered: ")
    assert reason in message and len(message) < 300
    assert after["resources"]["db"]["outputs"]["host"] == "s-blog-prod.production.db.internal"
    assert catalog.repo.rows("SELECT count(*) FROM catalog_bindings WHERE app = 'shop'") == [(0,)]
