"""Names in the catalog's documents and requests: DNS-label-like, refused with the field named otherwise.

A name ends up in paths (``res_id``, secret references rendered from the context), so ``..`` and ``/``
must never get through, whichever door a name comes in by.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.catalog.conftest import OUTPUTS, apply_docs, definition, document, pin, score, table_rows
from trellis.catalog.api import run_operation
from trellis.catalog.errors import CatalogError
from trellis.catalog.operations import OPERATIONS
from trellis.catalog.service import Catalog

TEMPLATED = definition(
    "templated",
    driver="template",
    outputs={**OUTPUTS["postgres"], "password": "${secret:vault/{{ context.app }}/{{ context.res_id }}#password}"},
)


@pytest.fixture
def served(catalog: Catalog) -> Catalog:
    apply_docs(catalog, TEMPLATED)
    return catalog


def _resolve(catalog: Catalog, **changes: Any) -> Any:
    payload = {"workload": score(), "app": "shop", "env": "prod", "env_type": "production", **changes}
    return run_operation(catalog, OPERATIONS["resolve"], "alice", payload)


def test_good_names_resolve_into_a_reference_that_names_them(served: Catalog) -> None:
    result = _resolve(served)

    assert result["resources"]["db"]["outputs"]["password"] == "${secret:vault/shop/api.db#password}"


BAD_REQUESTS = {
    "app with a path": ({"app": "shop/../../../secret/root"}, "field app: 'shop/../../../secret/root' is not a name"),
    "env with a slash": ({"env": "prod/eu"}, "field env: 'prod/eu' is not a name"),
    "env type in capitals": ({"env_type": "Production"}, "field env_type: 'Production' is not a name"),
    "resource name with a path": (
        {"workload": score(resources={"../../billing/ledger": {"type": "postgres"}})},
        "field resources.../../billing/ledger.[key]: '../../billing/ledger' is not a name",
    ),
    "shared id with a path": (
        {"workload": score(resources={"db": {"type": "postgres", "id": "../ledger"}})},
        "field resources.db.id: '../ledger' is not a name",
    ),
    "workload name with dots": (
        {"workload": {**score(), "metadata": {"name": "api..x"}}},
        "field metadata.name: 'api..x' is not a name",
    ),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_name_in_a_request_is_refused_naming_the_field_and_records_nothing(served: Catalog, case: str) -> None:
    changes, message = BAD_REQUESTS[case]
    before = table_rows(served.con)

    with pytest.raises(CatalogError) as refused:
        _resolve(served, **changes)

    assert message in str(refused.value)
    assert "is not a name: lowercase letters, digits and '-'" in str(refused.value)
    assert table_rows(served.con) == before


EXPIRES = datetime(2027, 1, 1, tzinfo=UTC)
BAD_DOCUMENTS = {
    "definition id with a path": (definition("../../billing"), "field metadata.id: '../../billing' is not an id"),
    "definition id with two dots": (definition("pg..prod"), "field metadata.id: 'pg..prod' is not an id"),
    "definition id too long": (definition("a" * 64), "field metadata.id: '" + "a" * 64 + "' is not an id"),
    "criterion app": (definition("d", criteria=[{"app_id": "a/b"}]), "field spec.criteria.0.app_id: 'a/b'"),
    "criterion res_id": (definition("d", criteria=[{"res_id": "../x"}]), "field spec.criteria.0.res_id: '../x'"),
    "pin app": (pin("p", "d", 1, EXPIRES, app="../shop"), "field spec.app: '../shop' is not a name"),
    "pin resource": (pin("p", "d", 1, EXPIRES, resource="db/x"), "field spec.resource: 'db/x' is not a name"),
    "type id": (document("ResourceType", "my/type", {}), "field metadata.id: 'my/type' is not an id"),
}


@pytest.mark.parametrize("case", BAD_DOCUMENTS)
def test_a_bad_name_in_a_document_is_refused_naming_the_field(catalog: Catalog, case: str) -> None:
    doc, message = BAD_DOCUMENTS[case]

    with pytest.raises(CatalogError, match=r"catalog\.yaml") as refused:
        run_operation(catalog, OPERATIONS["apply"], "alice", {"documents": [doc], "source": "catalog.yaml"})

    assert message in str(refused.value)
    assert table_rows(catalog.con)["catalog_audit"] == []


def test_dotted_ids_made_of_labels_are_names_too(catalog: Catalog) -> None:
    apply_docs(catalog, definition("tf.main.orders-db", criteria=[{"res_id": "shared.ledger-db"}]))

    assert catalog.repo.definition_ids() == ["tf.main.orders-db"]


@pytest.mark.parametrize(
    "reference",
    ["${secret:vault/../root#password}", "${secret:vault/a/..#password}", "${secret:/etc/passwd#x}"],
)
def test_a_secret_reference_that_climbs_out_of_its_store_is_refused(catalog: Catalog, reference: str) -> None:
    doc = definition("climbing", outputs={**OUTPUTS["postgres"], "password": reference})

    with pytest.raises(CatalogError, match="output password is secret: give a reference"):
        apply_docs(catalog, doc)
