"""trellis/analytics/service.py: settings become the jobs' configuration, periods, and the schedule."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from tests.analytics.scenarios import TWO_WEEKS
from trellis.analytics.job import AnalyticsConfig
from trellis.analytics.service import AnalyticsService, config_from_settings, default_period, parse_moment, period_from
from trellis.settings import Settings


def test_settings_become_the_configuration(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("currency: EUR\ncpu_core_hour: 1.5\n")
    settings = Settings(production_environments="prod, live ,", price_table=prices, analytics_dead_after_days=9)
    config = config_from_settings(settings)
    assert config.production_environments == ("prod", "live")
    assert (config.currency, config.prices, config.dead_after_days) == ("EUR", {"cpu_core_hour": 1.5}, 9)
    assert config.is_production("production-eu") and not config.is_production("staging")
    assert config_from_settings(Settings()).production_environments == ("production",)


def test_periods_from_dates_moments_and_defaults() -> None:
    assert parse_moment("2026-01-05") == datetime(2026, 1, 5)
    assert parse_moment("2026-01-05T10:00:00+01:00") == datetime(2026, 1, 5, 9)
    assert parse_moment("2026-01-05T10:00:00Z") == datetime(2026, 1, 5, 10)
    assert parse_moment(date(2026, 1, 5)) == datetime(2026, 1, 5)
    assert period_from("2026-01-05", "2026-01-19", 30) == TWO_WEEKS
    assert period_from(None, "2026-01-19", 14) == TWO_WEEKS
    assert default_period(7, datetime(2026, 1, 18, 15)) == TWO_WEEKS.__class__(datetime(2026, 1, 12), TWO_WEEKS.end)
    with pytest.raises(ValueError, match="before it starts"):
        period_from("2026-02-01", "2026-01-01", 30)


def test_a_scheduled_run_runs_every_job_over_the_window() -> None:
    con = duckdb.connect()
    service = AnalyticsService(con.cursor(), AnalyticsConfig(), window_days=7)
    service.scheduled_run()
    assert [r.job for r in service.last_run] == ["dora", "adoption", "demand", "utilization", "cost", "platform_health"]
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "analytics_dora" in tables
