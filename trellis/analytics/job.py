"""The seam every analysis goes through: a job is a named pure function from sources to a DataFrame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from trellis.analytics.sources import Period, Sources


@dataclass(frozen=True)
class AnalyticsConfig:
    """What the jobs need to know besides the data."""

    production_environments: tuple[str, ...] = ("production",)
    """Environments whose deployments count for lead time, failure rate and recovery (prefix match)."""
    dead_after_days: int = 30
    prices: dict[str, float] = field(default_factory=dict)
    """Unit prices per hour that override the defaults of ``trellis.analytics.prices.DEFAULT_PRICES``:
    ``cpu_core_hour``, ``memory_gib_hour``, ``<type>`` (a catalog resource of that type, any class) and
    ``<type>/<class>``."""
    currency: str = "USD"
    """The currency the prices are in; written next to every cost."""
    pin_warning_days: int = 14
    """A pin that expires within this many days after the period's end is 'expiring soon'."""
    headroom: float = 1.15
    """Recommended request = p95 usage x headroom."""

    def is_production(self, environment: str | None) -> bool:
        return bool(environment) and any(str(environment).startswith(p) for p in self.production_environments)


@dataclass(frozen=True)
class Job:
    """A named analysis; ``run`` reads only through ``Sources`` and writes nothing."""

    name: str
    description: str
    run: Callable[[Sources, Period, AnalyticsConfig], pl.DataFrame]
    shares: tuple[str, ...] = ()
    """The kinds of work the job shares with other jobs of a run (``run_sources.shared``, such as
    ``usage_sql.USAGE``); a run keeps each until the last job that names it is done."""
    reads_catalog: bool = False
    """Whether the job reads the catalog's tables, which an answer for some teams does not narrow (``slices``)."""

    @property
    def table(self) -> str:
        return f"analytics_{self.name}"
