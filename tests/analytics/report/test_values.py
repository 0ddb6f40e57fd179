"""report/values.py: cells as a person reads them."""

from __future__ import annotations

from datetime import datetime

from trellis.analytics.report import format_value


def test_values_read_as_a_person_reads_them() -> None:
    assert format_value("change_failure_rate", 0.0525) == "5.2%"
    assert format_value("total_cost", 12345.678) == "12,346"
    assert format_value("deployments", 1200) == "1,200"
    assert format_value("lead_time_median_hours", 3.14159) == "3.14"
    assert format_value("week_start", datetime(2026, 1, 5)) == "2026-01-05"
    assert format_value("x", None) == "-" and format_value("production", True) == "yes"
