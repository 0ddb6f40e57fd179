"""report/tables.py: the tables as data, CSV or Parquet in a folder or a zip, or one XLSX sheet per table."""

from __future__ import annotations

import zipfile
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from trellis.analytics.report import Report, write_report
from trellis.analytics.report.tables import sheet_name


def test_xlsx_has_one_sheet_per_table_that_reads_back(report: Report, tmp_path: Path) -> None:
    import openpyxl

    out = tmp_path / "report.xlsx"
    write_report(report, "xlsx", out)
    book = openpyxl.load_workbook(out, read_only=True)
    tables = report.tables()
    assert book.sheetnames == [t.name for t in tables]
    for table in tables:
        rows = list(book[table.name].iter_rows(values_only=True))
        assert list(rows[0]) == table.frame.columns, table.name
        assert len(rows) - 1 == table.frame.height, table.name
    dora = pl.read_excel(out, sheet_name="dora_teams", engine="openpyxl")
    assert_frame_equal(
        dora.select("team", "deployments"), tables[3].frame.select("team", "deployments"), check_dtypes=False
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_carry_every_table_in_a_folder_or_a_zip(report: Report, tmp_path: Path, fmt: str) -> None:
    folder, archive = tmp_path / fmt, tmp_path / f"{fmt}.zip"
    write_report(report, fmt, folder)
    write_report(report, fmt, archive)
    names = [f"{t.name}.{fmt}" for t in report.tables()]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == names
    for table in report.tables():
        path = folder / f"{table.name}.{fmt}"
        if fmt == "parquet":
            assert_frame_equal(pl.read_parquet(path), table.frame)
        else:
            back = pl.read_csv(path, try_parse_dates=True)
            assert back.columns == table.frame.columns and back.height == table.frame.height
    back = pl.read_csv(folder / "cost_teams.csv") if fmt == "csv" else pl.read_parquet(folder / "cost_teams.parquet")
    frame = next(t.frame for t in report.tables() if t.name == "cost_teams")
    assert back["total_cost"].to_list() == pytest.approx(frame["total_cost"].to_list(), rel=1e-12)


def test_sheet_names_keep_to_what_excel_allows() -> None:
    assert sheet_name("a" * 40, set()) == "a" * 31
    assert sheet_name("x/y", {"x_y"}) == "x_y~2"
