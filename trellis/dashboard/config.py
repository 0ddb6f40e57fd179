"""Where the dashboard reads: the settings ``trellis dashboard`` hands to the Streamlit process.

``TRELLIS_API`` and ``TRELLIS_TOKEN`` are the CLI's own variables; ``TRELLIS_DASHBOARD_DB`` names a
database file to open read-only when no collector answers at the API.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from trellis.collector.settings import DEFAULT_API

DB_VARIABLE = "TRELLIS_DASHBOARD_DB"
CACHE_SECONDS = 30
"""How long a read is reused before the API is asked again."""
LIVE_CACHE_SECONDS = 5
"""How long a live view's read is reused."""
LIVE_SECONDS = 15
"""How often the live views (ingest, pending approvals) refresh themselves."""


@dataclass(frozen=True)
class Config:
    api: str
    db: str | None
    token: str | None


def load() -> Config:
    """The settings in force now (read on every run, so a test can change them)."""
    return Config(
        api=(os.environ.get("TRELLIS_API") or DEFAULT_API).rstrip("/"),
        db=os.environ.get(DB_VARIABLE) or None,
        token=os.environ.get("TRELLIS_TOKEN") or None,
    )
