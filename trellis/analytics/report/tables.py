"""The report's tables as data: CSV or Parquet (one file per table), or XLSX (one sheet per table).

CSV and Parquet go to a folder, or into one zip archive when ``--out`` ends in ``.zip``: a folder is what
tools read, a zip is what a ticket or a mail carries. Either way ``about`` (period, teams, source, missing
data), ``coverage`` (each analytics table read) and ``inputs`` (the store's data in the period) come first,
then one file per table of the report, named as in the documents (``dora_teams``, ``cost_daily``...).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl

from trellis.analytics.report.model import Report


def _csv(frame: pl.DataFrame) -> bytes:
    return frame.write_csv(datetime_format="%Y-%m-%dT%H:%M:%S%.f").encode()


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def write_files(report: Report, out: Path, fmt: str) -> list[Path]:
    """One ``<table>.csv`` or ``<table>.parquet`` per table, in the folder ``out`` or the zip ``out``."""
    encode = _csv if fmt == "csv" else _parquet
    files = {f"{t.name}.{fmt}": encode(t.frame) for t in report.tables()}
    if out.suffix == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        path = out / name
        path.write_bytes(data)
        written.append(path)
    return written


def sheet_name(name: str, taken: set[str]) -> str:
    """Excel allows 31 characters and no []:*?/\\ in a sheet name, unique regardless of case."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31]
    candidate, n = clean, 2
    while candidate.lower() in taken:
        suffix = f"~{n}"
        candidate, n = clean[: 31 - len(suffix)] + suffix, n + 1
    taken.add(candidate.lower())
    return candidate


def write_xlsx(report: Report, out: Path) -> list[Path]:
    import xlsxwriter

    out.parent.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    with xlsxwriter.Workbook(str(out)) as workbook:
        for table in report.tables():
            frame = table.frame
            if frame.width == 0:
                frame = pl.DataFrame({"note": ["no columns"]})
            frame.write_excel(
                workbook=workbook,
                worksheet=sheet_name(table.name, taken),
                autofit=True,
                float_precision=6,
                dtype_formats={pl.Datetime: "yyyy-mm-dd hh:mm:ss"},
                table_style="Table Style Light 9",
            )
    return [out]


__all__ = ["sheet_name", "write_files", "write_xlsx"]
