"""Every setting of Trellis in one list: the collector's, the catalog's, the analytics' and the
notifications'.

Each package declares its own settings next to the code that reads them; this class gathers them for
``trellis serve`` and for ``docs/configuration.md``, which a test keeps in step.
"""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from trellis.analytics import AnalyticsSettings
from trellis.catalog import CatalogSettings
from trellis.collector.settings import ENV_PREFIX, CollectorSettings
from trellis.notifications import NotificationsSettings


class Settings(CollectorSettings, CatalogSettings, AnalyticsSettings, NotificationsSettings):
    """The settings of the collector and of everything it serves; flags, then variables, then defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")


__all__ = ["Settings"]
