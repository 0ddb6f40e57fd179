"""report/values.py: cells as a person reads them."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from trellis.analytics.report import ReportTable, display_rows, format_value


def test_values_read_as_a_person_reads_them() -> None:
    assert format_value("change_failure_rate", 0.0525) == "5.2%"
    assert format_value("total_cost", 12345.678) == "12,346"
    assert format_value("deployments", 1200) == "1,200"
    assert format_value("lead_time_median_hours", 3.14159) == "3.14"
    assert format_value("week_start", datetime(2026, 1, 5)) == "2026-01-05"
    assert format_value("x", None) == "-" and format_value("production", True) == "yes"


def test_memory_reads_in_gib_and_mib_in_the_rows_that_hold_bytes() -> None:
    """Utilization's memory rows hold bytes: a document shows '1.5 GiB', not '1,610,612,736'; CPU rows
    are left as cores, and the data formats keep the numbers."""
    frame = pl.DataFrame(
        {
            "workload": ["api", "api"],
            "unit": ["bytes", "cores"],
            "usage_avg": [1.5 * 2**30, 0.25],
            "recommended_change": [-512.0 * 2**20, 0.1],
            "usage_hours": [24.0 * 2**30, 6.0],
            "samples": [120, 120],
        }
    )

    columns, rows = display_rows(ReportTable("utilization", "Utilization", frame))

    assert columns == ["workload", "unit", "usage_avg", "recommended_change", "usage_hours", "samples"]
    assert rows == [
        ["api", "bytes", "1.5 GiB", "-512.0 MiB", "24.0 GiB·h", "120"],
        ["api", "cores", "0.25", "0.1", "6", "120"],
    ]
