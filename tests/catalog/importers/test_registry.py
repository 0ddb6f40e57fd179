"""The importers' seam: the built-in formats are found through ``IMPORTERS``, as an extension would be,
and an unknown format is refused with a sentence that names the known ones."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from trellis.catalog.api import run_operation
from trellis.catalog.errors import CatalogError
from trellis.catalog.importers import IMPORTERS, Importer, ImportResult, Skipped, importer_for
from trellis.catalog.importers.csv_layout import read_csv
from trellis.catalog.importers.terraform import read_terraform
from trellis.catalog.operations import OPERATIONS
from trellis.catalog.service import Catalog
from trellis.cli import main

ROOT = Path(__file__).resolve().parents[3]
TF_SAMPLE = ROOT / "sample_data" / "terraform" / "legacy.tfstate.json"
CSV_SAMPLE = ROOT / "sample_data" / "legacy-resources.csv"


class Listing:
    """An importer as an extension would write one: every line of the file is skipped."""

    name = "listing"
    reads = "one resource address per line"

    def read(self, text: str | bytes, file: str, *, namespace: str | None = None) -> ImportResult:
        lines = (text.decode() if isinstance(text, bytes) else text).split()
        return ImportResult(self.name, file, skipped=[Skipped(line, "only listed") for line in lines])


def test_the_built_in_importers_are_found_through_the_registry() -> None:
    assert sorted(IMPORTERS) == ["csv", "terraform"]
    for name, importer in IMPORTERS.items():
        assert importer.name == name and importer.reads
        assert importer_for(name) is importer


@pytest.mark.parametrize(
    ("name", "path", "read"),
    [("terraform", TF_SAMPLE, read_terraform), ("csv", CSV_SAMPLE, read_csv)],
)
def test_a_registered_importer_reads_what_its_read_function_reads(
    name: str, path: Path, read: Callable[[Path], ImportResult]
) -> None:
    through_registry = importer_for(name).read(path.read_bytes(), str(path))
    assert through_registry.as_dict() == read(path).as_dict()


def test_an_unknown_format_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"no importer reads the format 'xml'; the known formats are csv, terraform"):
        importer_for("xml")


def test_the_import_operation_refuses_an_unknown_format_and_changes_nothing() -> None:
    catalog = Catalog(duckdb.connect())
    payload = {"format": "xml", "text": "<resources/>", "file": "legacy.xml"}
    with pytest.raises(CatalogError, match="the known formats are csv, terraform") as caught:
        run_operation(catalog, OPERATIONS["import"], "alice", payload)
    assert caught.value.status == 400
    assert catalog.repo.definition_ids() == []


def test_the_import_operation_uses_an_importer_registered_like_the_built_in_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    importer: Importer = Listing()
    monkeypatch.setitem(IMPORTERS, importer.name, importer)
    payload = {"format": "listing", "text": "a.b\nc.d\n", "file": "legacy.txt", "dry_run": True}

    report = run_operation(Catalog(duckdb.connect()), OPERATIONS["import"], "alice", payload)

    assert report["source"] == "listing" and report["changes"] == []
    assert report["skipped"] == [
        {"address": "a.b", "reason": "only listed"},
        {"address": "c.d", "reason": "only listed"},
    ]


def test_the_command_refuses_an_unknown_format_before_reading_the_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "catalog.duckdb"
    monkeypatch.setattr(sys, "argv", ["trellis", "resources", "import", "xml", str(tmp_path / "nope"), "--db", str(db)])

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 1
    assert "no importer reads the format 'xml'; the known formats are csv, terraform" in capsys.readouterr().err
    assert not db.exists()
