"""The catalog's rows: a write that would break an invariant is refused before it commits."""

from __future__ import annotations

import duckdb
import pytest

from tests.catalog.conftest import Clock, apply_docs, definition, table_rows
from trellis.catalog.errors import CatalogError
from trellis.catalog.service import Catalog


def test_a_write_leaving_two_active_versions_is_rolled_back(catalog: Catalog, clock: Clock) -> None:
    apply_docs(catalog, definition("orders", params={"backup_retention_days": 7}))
    apply_docs(catalog, definition("orders", params={"backup_retention_days": 8}))
    before = table_rows(catalog.con)

    refused = r"^orders would have 2 active versions \(\[1, 2\]\); nothing was changed$"
    with pytest.raises(CatalogError, match=refused), catalog.transaction():
        catalog.repo.set_state("orders", 1, "active")

    assert table_rows(catalog.con) == before


def test_a_write_leaving_a_gap_in_the_audit_log_is_rolled_back(catalog: Catalog) -> None:
    apply_docs(catalog, definition("orders"))
    before = table_rows(catalog.con)

    refused = "the audit log would hold 1 entries numbered up to 2"
    with pytest.raises(CatalogError, match=refused), catalog.transaction():
        catalog.con.execute("DELETE FROM catalog_audit WHERE seq = 1")

    assert table_rows(catalog.con) == before


def test_the_shared_catalog_refuses_use_outside_a_session() -> None:
    shared = Catalog(duckdb.connect(), shared=True)

    with pytest.raises(RuntimeError, match="outside a session"):
        shared.repo.definition_ids()
    with shared.reading():
        assert shared.repo.definition_ids() == []
    with shared.reading(), pytest.raises(RuntimeError, match="a write inside a read-only catalog session"):
        apply_docs(shared, definition("orders"))


def test_a_session_reads_what_it_wrote_and_the_next_session_what_others_committed(catalog: Catalog) -> None:
    """A session keeps what it read of documents and versions; its own writes and the next session see
    the new rows."""
    apply_docs(catalog, definition("orders", params={"backup_retention_days": 7}))
    with catalog.transaction():
        assert catalog.repo.objects("Pin") == {}
        assert [v.state for v in catalog.repo.versions("orders")] == ["active"]
        catalog.repo.put_object("Pin", "hold", {"reason": "test"}, None, catalog.now())
        catalog.repo.set_state("orders", 1, "deprecated")
        assert catalog.repo.objects("Pin") == {"hold": {"reason": "test"}}
        assert [v.state for v in catalog.repo.versions("orders")] == ["deprecated"]
    other = Catalog(catalog.con)
    with other.transaction():
        other.repo.delete_object("Pin", "hold")
    with catalog.reading():
        assert catalog.repo.objects("Pin") == {}
