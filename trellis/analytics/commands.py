"""The analytics' commands on the ``trellis`` command: ``analyze``, ``answer`` and ``report``."""

from __future__ import annotations

import typer

from trellis.analytics.answer_command import answer
from trellis.analytics.cli import analyze
from trellis.analytics.report.command import report


def register(app: typer.Typer) -> None:
    """Add ``trellis analyze``, ``trellis answer`` and ``trellis report`` to the ``trellis`` command."""
    app.command("analyze")(analyze)
    app.command("answer")(answer)
    app.command("report")(report)


__all__ = ["register"]
