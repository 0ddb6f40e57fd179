"""report/formats.py: the format asked for, or the one the output's suffix names."""

from __future__ import annotations

from pathlib import Path

import pytest

from trellis.analytics.report import FORMATS, format_for


def test_the_format_comes_from_the_option_or_the_suffix() -> None:
    assert format_for(Path("r.pdf"), None) == "pdf" and format_for(Path("out"), "csv") == "csv"
    assert format_for(Path("r.HTM"), None) == "html"
    with pytest.raises(ValueError, match="give --format"):
        format_for(Path("out"), None)
    with pytest.raises(ValueError, match="unknown format 'doc'"):
        format_for(Path("r.doc"), "doc")


def test_every_format_has_a_writer_and_csv_and_parquet_must_be_asked_for() -> None:
    assert list(FORMATS) == ["html", "md", "pdf", "csv", "parquet", "xlsx"]
    assert all(callable(f.write) for f in FORMATS.values())
    assert FORMATS["csv"].suffixes == FORMATS["parquet"].suffixes == ()
