"""Analytics: Polars jobs that turn usage into answers.

Each job is a pure function over lazy scans of the collector's DuckDB (``Sources``) that returns one
DataFrame with the columns docs/analytics.md documents; ``run_job`` keeps it in ``analytics_<job>``, and
``Answers`` computes it for a period, teams and environments without storing it (``fetch_answer`` asks a
running collector for one).
The collector runs every job on a schedule and on ``POST /api/v1/analyze``; ``trellis analyze`` runs them
through it, or on the database file when no collector runs. Other packages use only what is listed here.
"""

from trellis.analytics.answers import Answer, Answers, Busy
from trellis.analytics.api import install as install_routes
from trellis.analytics.commands import register as register_commands
from trellis.analytics.job import AnalyticsConfig, Job
from trellis.analytics.prices import DEFAULT_PRICES, PriceTableError, load_price_table
from trellis.analytics.registry import JOBS, UnknownJob, select_jobs
from trellis.analytics.remote_answers import fetch_answer
from trellis.analytics.report import FORMAT_NAMES as REPORT_FORMATS
from trellis.analytics.report import Report, build_report, write_report
from trellis.analytics.runner import JobResult, run_job, run_jobs
from trellis.analytics.service import AnalyticsService, config_from_settings, period_from
from trellis.analytics.settings import AnalyticsSettings
from trellis.analytics.slices import Slice
from trellis.analytics.sources import Period, Sources, naive_utc

__all__ = [
    "DEFAULT_PRICES",
    "JOBS",
    "REPORT_FORMATS",
    "AnalyticsConfig",
    "AnalyticsService",
    "AnalyticsSettings",
    "Answer",
    "Answers",
    "Busy",
    "Job",
    "JobResult",
    "Period",
    "PriceTableError",
    "Report",
    "Slice",
    "Sources",
    "UnknownJob",
    "build_report",
    "config_from_settings",
    "fetch_answer",
    "install_routes",
    "load_price_table",
    "naive_utc",
    "period_from",
    "register_commands",
    "run_job",
    "run_jobs",
    "select_jobs",
    "write_report",
]
