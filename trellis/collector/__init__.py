"""The collector: OTLP over gRPC and HTTP into DuckDB, and the API every other part reads through.

Other packages use only what is listed here. Each name loads its module on first use, so that importing
one part (a notebook's ``Client``, a decoding process) does not load the others.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what __getattr__ loads on first use, for type checkers
    from trellis.collector.api import (
        ApiContext,
        ApiError,
        Caller,
        RouteInstaller,
        json_response,
        read_body,
        read_model,
    )
    from trellis.collector.auth import Scope, TokensFileError
    from trellis.collector.cli import register as register_commands
    from trellis.collector.client import (
        ARROW_STREAM,
        Client,
        ClientError,
        CollectorRunning,
        CollectorUnreachable,
        read_only_file,
        running_collector,
    )
    from trellis.collector.emit import EmitError
    from trellis.collector.events import DEPLOYMENT_EVENT, INCIDENT_EVENT
    from trellis.collector.messages import first_line
    from trellis.collector.model_files import describe_validation, read_model_file
    from trellis.collector.query import (
        QueryFailed,
        QueryRefused,
        arrow_ipc,
        named_params,
        run_query,
        to_json_ready,
    )
    from trellis.collector.schedule import Every
    from trellis.collector.schema import (
        LATE_HOURS_TABLE,
        RESOURCES_TABLE,
        instant_sql,
        migrate,
        run_migrations,
        stored_table,
    )
    from trellis.collector.server import ConfigError, serve
    from trellis.collector.settings import CollectorSettings
    from trellis.collector.sql_guard import open_read_only
    from trellis.collector.store import Store, memory_limit_bytes
    from trellis.collector.webhooks.connectors import ConnectorsFile
    from trellis.collector.webhooks.receiver import Change, Event, Reading, Receiver, SenderRefused
    from trellis.collector.webhooks.registry import register_receiver

_MODULES = {
    "api": ["ApiContext", "ApiError", "Caller", "RouteInstaller", "json_response", "read_body", "read_model"],
    "auth": ["Scope", "TokensFileError"],
    "client": ["ARROW_STREAM", "Client", "ClientError", "CollectorRunning", "CollectorUnreachable", "read_only_file",
               "running_collector"],
    "emit": ["EmitError"],
    "events": ["DEPLOYMENT_EVENT", "INCIDENT_EVENT"],
    "messages": ["first_line"],
    "model_files": ["describe_validation", "read_model_file"],
    "query": ["QueryFailed", "QueryRefused", "arrow_ipc", "named_params", "run_query", "to_json_ready"],
    "schedule": ["Every"],
    "schema": ["LATE_HOURS_TABLE", "RESOURCES_TABLE", "instant_sql", "migrate", "run_migrations", "stored_table"],
    "store": ["Store", "memory_limit_bytes"],
    "server": ["ConfigError", "serve"],
    "settings": ["CollectorSettings"],
    "sql_guard": ["open_read_only"],
    "webhooks.connectors": ["ConnectorsFile"],
    "webhooks.receiver": ["Change", "Event", "Reading", "Receiver", "SenderRefused"],
    "webhooks.registry": ["register_receiver"],
}  # fmt: skip
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name == "register_commands":
        from trellis.collector.cli import register

        return register
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"trellis.collector.{module}"), name)


__all__ = [
    "ARROW_STREAM",
    "DEPLOYMENT_EVENT",
    "INCIDENT_EVENT",
    "LATE_HOURS_TABLE",
    "RESOURCES_TABLE",
    "ApiContext",
    "ApiError",
    "Caller",
    "Change",
    "Client",
    "ClientError",
    "CollectorRunning",
    "CollectorSettings",
    "CollectorUnreachable",
    "ConfigError",
    "ConnectorsFile",
    "EmitError",
    "Event",
    "Every",
    "QueryFailed",
    "QueryRefused",
    "Reading",
    "Receiver",
    "RouteInstaller",
    "Scope",
    "SenderRefused",
    "Store",
    "TokensFileError",
    "arrow_ipc",
    "describe_validation",
    "first_line",
    "instant_sql",
    "json_response",
    "memory_limit_bytes",
    "migrate",
    "named_params",
    "open_read_only",
    "read_body",
    "read_model",
    "read_model_file",
    "read_only_file",
    "register_commands",
    "register_receiver",
    "run_migrations",
    "run_query",
    "running_collector",
    "serve",
    "stored_table",
    "to_json_ready",
]
