"""Errors as one line: what every error message of the collector and the commands is cut to."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (DuckDB's run over several), or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["first_line"]
