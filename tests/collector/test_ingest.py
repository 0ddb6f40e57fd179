"""trellis/collector/ingest.py: what an export's failure means for its sender: final, or worth a retry."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from trellis.collector.ingest import refused_for_content


def _error_of(sql: str) -> duckdb.Error:
    with duckdb.connect() as con, pytest.raises(duckdb.Error) as caught:
        con.execute(sql).fetchall()
    return caught.value


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT MAP(['k', 'k'], ['a', 'b'])",  # a key twice in one map
        "SELECT 'not a number'::INTEGER",
        "SELECT 300::TINYINT",
    ],
)
def test_what_no_retry_can_store_is_refused_for_good(sql: str) -> None:
    reason = refused_for_content(_error_of(sql))
    assert reason is not None and reason.startswith("the export cannot be stored: ")
    assert "\n" not in reason


def test_arrow_refusing_a_value_is_refused_for_good() -> None:
    with pytest.raises(pa.ArrowInvalid) as caught:
        pa.array(["x"], type=pa.int64())
    assert refused_for_content(caught.value) is not None


def test_conditions_a_retry_can_fix_stay_retryable(tmp_path: Path) -> None:
    (tmp_path / "held.duckdb").write_bytes(b"not a database")
    with pytest.raises(duckdb.Error) as caught:
        duckdb.connect(str(tmp_path / "held.duckdb"))
    assert refused_for_content(caught.value) is None
    assert refused_for_content(OSError(28, "No space left on device")) is None
    assert refused_for_content(TimeoutError()) is None
