"""The command-line options that every command shares, defined once with one help text.

Options that stand for a setting take their help from the setting's description and name its
environment variable, so ``--help`` and ``docs/configuration.md`` say the same thing.
"""

from __future__ import annotations

from typing import Any

import typer
from pydantic_settings import BaseSettings

from trellis.collector.settings import ENV_PREFIX, CollectorSettings


def setting_help(settings: type[BaseSettings], name: str) -> str:
    """A setting's description and its environment variable, as one option's help."""
    description = settings.model_fields[name].description or name
    return f"{description} (env: {ENV_PREFIX}{name.upper()})"


def setting_option(settings: type[BaseSettings], name: str, *flags: str, default: Any = None) -> Any:
    """A flag for the setting ``name``: unset by default, so that the variable, then the setting's own
    default apply; ``default`` gives a command a default of its own (the demo's fixed ports)."""
    return typer.Option(default, *(flags or (f"--{name.replace('_', '-')}",)), help=setting_help(settings, name))


ApiOpt = setting_option(CollectorSettings, "api")
TokenOpt = setting_option(CollectorSettings, "token")
EndpointOpt = setting_option(CollectorSettings, "endpoint")
DbFileOpt = typer.Option(
    None, "--db", help="Use this database file directly instead of a collector (no collector may hold it)."
)


def collector_settings(**flags: Any) -> CollectorSettings:
    """The collector's settings from the flags given, then ``TRELLIS_*`` variables, then defaults."""
    return CollectorSettings(**{k: v for k, v in flags.items() if v is not None})


__all__ = ["ApiOpt", "DbFileOpt", "EndpointOpt", "TokenOpt", "collector_settings", "setting_help", "setting_option"]
