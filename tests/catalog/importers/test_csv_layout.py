"""Importing legacy resources described in a CSV file, against a real DuckDB catalog."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from trellis.catalog.builtin_types import BUILTIN_TYPES
from trellis.catalog.documents import Source
from trellis.catalog.importers import ImportConflictError
from trellis.catalog.importers.csv_layout import COLUMNS, TYPE_COLUMNS, CsvImportError, import_csv, read_csv
from trellis.catalog.importers.terraform import definition_id, import_terraform
from trellis.catalog.matching import Context
from trellis.catalog.models import Criterion, ResourceDefinition
from trellis.catalog.service import Catalog, CatalogError

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "sample_data" / "legacy-resources.csv"
TF_SAMPLE = ROOT / "sample_data" / "terraform" / "legacy.tfstate.json"
DOC = ROOT / "docs" / "legacy-import.md"
HEADER = "id,type,class,env_type,app_id,env_id,res_id,host,port,name,username,secret_ref,region,params"
PG = "crm-db,postgres,,,,,,db.internal,5432,crm,crm_app,${secret:legacy/crm#password},,"


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(duckdb.connect(), now=lambda: datetime(2025, 3, 1, 12, 0, tzinfo=UTC))


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every row of every catalog table, as text."""
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'catalog%' ORDER BY 1"
        ).fetchall()
    ]
    return {t: sorted(repr(row) for row in con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables}


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "legacy.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# the sample --------------------------------------------------------------------------
def test_the_sample_describes_every_built_in_type() -> None:
    result = read_csv(SAMPLE)
    found = {d.metadata.id: d for d in result.definitions}
    assert {d.spec.type for d in result.definitions} == set(BUILTIN_TYPES) == set(TYPE_COLUMNS)
    assert result.skipped == []
    for document in result.definitions:
        assert document.spec.driver == "static" and document.spec.legacy is True
        assert document.spec.provenance == {"source": "csv", "file": str(SAMPLE)}
        assert set(document.spec.outputs) == set(BUILTIN_TYPES[document.spec.type].outputs)
    assert found["crm-db"].spec.outputs == {
        "host": "crm-db01.dc1.example.internal",
        "port": 5432,
        "name": "crm",
        "username": "crm_app",
        "password": "${secret:legacy/crm/db#password}",
    }
    assert found["crm-db"].spec.params == {"version": "9.6", "backup_retention_days": 14}
    assert [c.key() for c in found["crm-db"].spec.criteria] == [("default", "production", "crm", None, None)]
    assert found["helpdesk-db"].spec.criteria == []
    assert found["media-archive"].spec.outputs["bucket"] == "media-archive"
    assert found["media-archive"].spec.outputs["endpoint"] == "https://minio.dc1.example.internal:9000"
    assert found["media-archive"].spec.params == {"versioning": True, "public": False, "region": "us-east-1"}
    assert [c.class_ for c in found["media-archive"].spec.criteria] == ["archive"]
    assert found["orders-events"].spec.outputs["brokers"].count(":9093") == 3
    assert found["orders-events"].spec.outputs["topic"] == "orders.events.v1"
    assert found["batch-namespace"].spec.outputs == {"namespace": "batch-legacy"}
    assert found["status-page"].spec.params == {"record_type": "CNAME", "ttl": 300}
    assert result.locations["crm-db"] == "line 3"  # the comment line counts


def test_importing_the_sample_twice_changes_nothing(catalog: Catalog) -> None:
    first = import_csv(catalog, SAMPLE, "alice")
    assert [c.action for c in first.changes] == ["created"] * 7
    before = snapshot(catalog.con)
    again = import_csv(catalog, SAMPLE, "alice")
    assert {c.action for c in again.changes} == {"unchanged"}
    assert snapshot(catalog.con) == before
    ctx = Context(app_id="crm", env_id="prod", env_type="production", res_id="crm-web.db")
    winner = catalog.explain("postgres", "default", ctx).winner
    assert winner is not None and winner.definition_id == "crm-db"


def test_dry_run_changes_nothing(catalog: Catalog) -> None:
    before = snapshot(catalog.con)
    report = import_csv(catalog, SAMPLE, "alice", dry_run=True)
    assert report.dry_run and {c.action for c in report.changes} == {"created"}
    assert snapshot(catalog.con) == before


def test_s3_without_host_gets_the_aws_endpoint_of_its_region(tmp_path: Path) -> None:
    row = "assets,s3,,,,,,,,acme-assets,${secret:legacy/s3#key_id},${secret:legacy/s3#secret},eu-west-1,"
    (document,) = read_csv(write(tmp_path, HEADER, row)).definitions
    assert document.spec.outputs["endpoint"] == "https://s3.eu-west-1.amazonaws.com"
    assert document.spec.params == {"region": "eu-west-1"}


def test_columns_may_come_in_any_order_and_only_id_and_type_are_required(tmp_path: Path) -> None:
    path = write(tmp_path, "Host , TYPE,id", "status.example.com,dns,status")
    (document,) = read_csv(path).definitions
    assert (document.metadata.id, document.spec.outputs) == ("status", {"host": "status.example.com"})


def test_every_column_and_type_is_documented() -> None:
    text = DOC.read_text()
    for column in COLUMNS:
        assert f"`{column}`" in text, f"column {column} is not in docs/legacy-import.md"
    for type_ in TYPE_COLUMNS:
        assert f"| `{type_}` |" in text, f"type {type_} has no row in the CSV table of docs/legacy-import.md"


# criteria ----------------------------------------------------------------------------
def test_a_row_without_criteria_keeps_the_criteria_added_in_the_catalog(catalog: Catalog) -> None:
    report = import_csv(catalog, SAMPLE, "alice")
    helpdesk = next(d for d in report.definitions if d.metadata.id == "helpdesk-db")
    rules = [Criterion(app_id="helpdesk")]
    updated = helpdesk.model_copy(update={"spec": helpdesk.spec.model_copy(update={"criteria": rules})})
    catalog.apply([(updated, Source("platform.yaml", 0))], "platform-team")
    before = snapshot(catalog.con)
    assert {c.action for c in import_csv(catalog, SAMPLE, "alice").changes} == {"unchanged"}
    assert snapshot(catalog.con) == before


def test_a_row_with_criteria_sets_them(catalog: Catalog, tmp_path: Path) -> None:
    import_csv(catalog, write(tmp_path, HEADER, PG), "alice")
    row = PG.replace("crm-db,postgres,,", "crm-db,postgres,,staging")
    report = import_csv(catalog, write(tmp_path, HEADER, row), "alice")
    assert report.changes[0].action == "proposed"
    active = catalog.active("crm-db")
    assert active is not None and [c.env_type for c in active.spec.criteria] == ["staging"]


def test_rows_with_the_same_criteria_are_refused(tmp_path: Path) -> None:
    first = PG.replace("crm-db,postgres,,", "crm-db,postgres,,production")
    second = first.replace("crm-db,", "erp-db,", 1)
    with pytest.raises(CsvImportError, match=r"line 3, column class, .*same as on line 2"):
        read_csv(write(tmp_path, HEADER, first, second))


def test_an_id_of_another_origin_is_not_taken_over(catalog: Catalog, tmp_path: Path) -> None:
    import_terraform(catalog, TF_SAMPLE, "alice")
    orders_id = definition_id("aws_db_instance.orders")
    before = snapshot(catalog.con)
    with pytest.raises(ImportConflictError, match=f"{orders_id} was imported from source terraform"):
        import_csv(catalog, write(tmp_path, HEADER, PG.replace("crm-db", orders_id)), "alice")
    assert snapshot(catalog.con) == before


def test_a_hand_written_definition_is_not_taken_over(catalog: Catalog, tmp_path: Path) -> None:
    (document,) = read_csv(write(tmp_path, HEADER, PG)).definitions
    handwritten = ResourceDefinition.model_validate(
        {**document.model_dump(by_alias=True), "spec": {**document.spec.model_dump(by_alias=True), "legacy": False}}
    )
    catalog.apply([(handwritten, Source("crm.yaml", 0))], "bob")
    with pytest.raises(ImportConflictError, match="crm-db already exists and was not imported"):
        import_csv(catalog, write(tmp_path, HEADER, PG), "alice")


def test_the_catalog_refusing_a_row_names_its_line(catalog: Catalog, tmp_path: Path) -> None:
    from trellis.catalog.models import Policy

    policy = Policy.model_validate(
        {
            "apiVersion": "trellis/v1",
            "kind": "Policy",
            "metadata": {"id": "backups"},
            "spec": {
                "match": {"type": "postgres"},
                "rule": {"path": "params.backup_retention_days", "op": "gte", "value": 7},
                "message": "keep a week of backups",
            },
        }
    )
    catalog.apply([(policy, Source("policies.yaml", 0))], "bob")
    before = snapshot(catalog.con)
    path = write(tmp_path, HEADER, "# a comment", PG + "backup_retention_days=1")
    with pytest.raises(CatalogError, match=re.escape(f"{path} (line 3): denied by policy backups")):
        import_csv(catalog, path, "alice")
    assert snapshot(catalog.con) == before


# errors ------------------------------------------------------------------------------
BAD_ROWS = [
    (["id,type,colour", "a,dns,red"], "line 1: unknown column colour; the columns are id, type,"),
    (["id,host", "a,b"], "line 1: the header has no type column"),
    (["id,type,host,host", "a,dns,b,c"], "line 1: column host appears twice in the header"),
    ([HEADER, PG.replace("5432", "54x2")], "line 2, column port: '54x2' is not a port number (1-65535)"),
    ([HEADER, PG.replace("5432", "70000")], "line 2, column port: '70000' is not a port number"),
    ([HEADER, PG.replace("postgres", "postgresql")], "line 2, column type: type 'postgresql' is not a built-in"),
    ([HEADER, PG.replace("crm-db", "")], "line 2, column id: is empty"),
    ([HEADER, PG.replace("crm-db", "CRM DB")], "line 2, column id: 'CRM DB' is not a valid id"),
    ([HEADER, PG.replace(",crm,", ",,")], "line 2, column name: is empty; type postgres needs it for output name"),
    ([HEADER, "status,dns,,,,,,status.example.com,443,,,,,"], "line 2, column port: is not used by type dns"),
    ([HEADER, PG, PG], "line 3, column id: crm-db is already on line 2"),
    ([HEADER, PG + "version"], "line 2, column params: 'version' is not key=value"),
    ([HEADER, PG + "colour=red"], "line 2, column params: type postgres has no parameter colour"),
    ([HEADER, PG + "backup_retention_days=a week"], "parameter backup_retention_days must be a whole number"),
    ([HEADER, PG + "version=14;version=15"], "line 2, column params: parameter version is given twice"),
    ([HEADER, PG + "high_availability=maybe"], "parameter high_availability must be true or false"),
    ([HEADER, PG + ",extra"], "line 2: has 15 cells but the header has 14 columns"),
    (
        [HEADER, "a,s3,,,,,,,,bkt,${secret:k#id},${secret:k#s},eu-west-1,region=us-east-1"],
        "line 2, column params: region=us-east-1 disagrees with column region (eu-west-1)",
    ),
    (
        ["id,type,description,host", 'a,dns,"spans\ntwo lines",a.example.com', "b,dns,,"],
        "line 4, column host: is empty",  # the quoted cell spans lines 2 and 3
    ),
    ([HEADER, "", "# note", PG.replace("5432", "x")], "line 4, column port"),
    ([HEADER, 'a,dns,,,,,,"unterminated'], "line 2: is not valid CSV"),
    (["# only a comment"], "is empty; expected a header line"),
]


@pytest.mark.parametrize(("lines", "message"), BAD_ROWS)
def test_bad_files_name_line_and_column_and_change_nothing(
    catalog: Catalog, tmp_path: Path, lines: list[str], message: str
) -> None:
    import_csv(catalog, SAMPLE, "alice")
    before = snapshot(catalog.con)
    path = write(tmp_path, *lines)
    with pytest.raises(CsvImportError) as caught:
        import_csv(catalog, path, "alice")
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"{path}, line") or str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert snapshot(catalog.con) == before


@pytest.mark.parametrize("secret", ["hunter2-Pa55word", "vault/crm#password", "${secret:has space#x}"])
def test_a_secret_written_in_clear_text_is_refused_and_not_repeated(
    catalog: Catalog, tmp_path: Path, secret: str
) -> None:
    path = write(tmp_path, HEADER, PG.replace("${secret:legacy/crm#password}", secret))
    with pytest.raises(CsvImportError) as caught:
        import_csv(catalog, path, "alice")
    assert "line 2, column secret_ref: must be a reference such as ${secret:vault/path#key}" in str(caught.value)
    assert secret not in str(caught.value)
    assert all(secret not in row for rows in snapshot(catalog.con).values() for row in rows)
    dns = "status,dns,,,,,,status.example.com,,,,hunter2-Pa55word,,"
    with pytest.raises(CsvImportError, match="line 2, column secret_ref: is not used by type dns") as caught:
        read_csv(write(tmp_path, HEADER, dns))
    assert "hunter2" not in str(caught.value)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(CsvImportError, match=re.escape(f"{tmp_path / 'nope.csv'}: no such file")):
        read_csv(tmp_path / "nope.csv")
    (tmp_path / "latin1.csv").write_bytes(HEADER.encode() + b"\nm\xfcnchen,dns\n")
    with pytest.raises(CsvImportError, match=r"latin1\.csv, line 2: is not UTF-8"):
        read_csv(tmp_path / "latin1.csv")


def test_a_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + HEADER + "\r\n" + PG + "\r\n").encode())
    assert [d.metadata.id for d in read_csv(path).definitions] == ["crm-db"]
