"""The analytics' commands on the ``trellis`` command: ``analyze`` and ``report``."""

from __future__ import annotations

import typer

from trellis.analytics.cli import analyze
from trellis.analytics.report.command import report


def register(app: typer.Typer) -> None:
    """Add ``trellis analyze`` and ``trellis report`` to the ``trellis`` command."""
    app.command("analyze")(analyze)
    app.command("report")(report)


__all__ = ["register"]
