"""Running the collector: the OTLP receivers and the API around one store."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import uvicorn

from trellis.collector import otlp_wire
from trellis.collector.api import ApiContext, RouteInstaller, build_api
from trellis.collector.auth import Authenticator, read_tokens
from trellis.collector.decode_pool import DecodePool
from trellis.collector.messages import first_line
from trellis.collector.otlp_grpc import start_grpc_server
from trellis.collector.otlp_http import OtlpHttpReceiver
from trellis.collector.settings import CollectorSettings
from trellis.collector.store import Store
from trellis.collector.webhooks.connectors import Connector, ConnectorsFileError, read_connectors
from trellis.collector.webhooks.route import webhook_routes

log = logging.getLogger("trellis.server")

EXIT_RESTART = 75
"""The collector's exit status when only a new process can open the database again (EX_TEMPFAIL):
a supervisor (systemd's Restart=on-failure, Kubernetes) starts it again."""


class ConfigError(ValueError):
    """The collector cannot start with these settings; the message says why."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


PORTS = {"otlp_grpc_port": "OTLP/gRPC", "otlp_http_port": "OTLP/HTTP", "api_port": "API"}


def check_ports(settings: CollectorSettings) -> None:
    """Each receiver on a port of its own, and nothing else listening on any of them."""
    seen: dict[int, str] = {}
    for attribute, what in PORTS.items():
        port = getattr(settings, attribute)
        if port in seen:
            raise ConfigError(f"the {seen[port]} and {what} ports are both {port}: give each its own port")
        seen[port] = what
    for port, what in seen.items():  # the settings first: a port another program holds says nothing about them
        _check_free(settings.host, port, what)


def check_settings(settings: CollectorSettings) -> Authenticator:
    """Refuse unsafe settings; returns the authenticator for the tokens file."""
    if settings.tokens_file is None:
        if not is_loopback(settings.host):
            raise ConfigError(
                f"refusing to bind {settings.host} without --tokens-file: only loopback addresses may run open"
            )
        return Authenticator(None)
    return Authenticator(read_tokens(settings.tokens_file))


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the collector."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn(app: object, host: str, port: int, level: str) -> _Server:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level=level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    return _Server(config)


def _check_free(host: str, port: int, what: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot bind the {what} port {host}:{port}: {exc.strerror}") from None


@dataclass
class Collector:
    settings: CollectorSettings
    store: Store
    auth: Authenticator
    installers: Sequence[RouteInstaller] = field(default_factory=tuple)
    connectors: dict[str, Connector] = field(default_factory=dict)
    exit_code: int = 0

    async def run(self) -> None:
        s = self.settings
        context = ApiContext(self.store, self.auth, s)
        try:
            api = build_api(context, [webhook_routes(self.connectors), *self.installers])
        except Exception:
            self.store.close()
            raise
        otlp_wire.configure(s.wire_decoder)  # before the decoding processes start: they inherit it
        pool = DecodePool(s.decode_processes)
        grpc_server, _ = start_grpc_server(self.store, self.auth, s.host, s.otlp_grpc_port, s.max_body_bytes, pool)
        receiver = OtlpHttpReceiver(self.store, self.auth, s.max_body_bytes, s.retry_after_seconds, pool)
        servers = [
            _uvicorn(receiver.app(), s.host, s.otlp_http_port, s.log_level),
            _uvicorn(api, s.host, s.api_port, s.log_level),
        ]
        # The API answers on an event loop of its own, so that reads wait for no export's body.
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for srv in servers:
                srv.should_exit = True

        api_loop = threading.Thread(
            target=self._serve_api, args=(servers[1], lambda: loop.call_soon_threadsafe(stop)), name="trellis-api"
        )

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        print(self.banner(), flush=True)
        watcher = asyncio.create_task(self._restart_when_space_is_back(stop))
        api_loop.start()
        try:
            await servers[0].serve()
        finally:
            stop()
            await asyncio.to_thread(api_loop.join)
            watcher.cancel()
            grpc_server.stop(grace=5).wait()
            receiver.close()
            pool.close()
            for stop_extension in context.on_shutdown:
                stop_extension()
            self.store.close()
            log.info("collector stopped; every acknowledged export is committed")

    def _serve_api(self, server: _Server, stop: Callable[[], None]) -> None:
        """Serve the API on this thread's own event loop; stop the collector if it cannot start."""
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
            asyncio.run(server.serve())
        if not server.started:
            log.error("the API did not start on %s:%d; stopping", self.settings.host, self.settings.api_port)
            self.exit_code = 1
            stop()

    async def _restart_when_space_is_back(self, stop: Callable[[], None]) -> None:
        """After DuckDB invalidated the database, answer unhealthy until the disk has room again,
        then stop with ``EXIT_RESTART``: a new process replays the write-ahead log."""
        health = self.store.health
        while not (health.invalidated and health.space_is_back()):
            await asyncio.sleep(1)
        log.error(
            "%s; there is space again: exiting with status %d so that a supervisor starts the collector again "
            "(every acknowledged export is in the write-ahead log)",
            health.failure,
            EXIT_RESTART,
        )
        self.exit_code = EXIT_RESTART
        stop()

    def banner(self) -> str:
        s = self.settings
        return (
            f"Trellis collector on {s.db}\n"
            f"  OTLP/gRPC  {s.host}:{s.otlp_grpc_port}\n"
            f"  OTLP/HTTP  http://{s.host}:{s.otlp_http_port}/v1/{{metrics,logs,traces}}\n"
            f"  API        http://{s.host}:{s.api_port}/api/v1/health\n"
            f"  tokens     {'required' if self.auth.enabled else 'off (loopback only)'}"
        )


def _connectors(settings: CollectorSettings) -> dict[str, Connector]:
    """The webhook sources of the connectors file (none without one)."""
    if settings.connectors_file is None:
        return {}
    try:
        return read_connectors(settings.connectors_file)
    except ConnectorsFileError as exc:
        raise ConfigError(str(exc)) from None


def serve(settings: CollectorSettings, installers: Sequence[RouteInstaller] = ()) -> None:
    """Run the collector, with the routes of ``installers`` on its API, until SIGINT or SIGTERM."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    faulthandler.enable()  # a crash in native code leaves every thread's Python stack in the log
    auth = check_settings(settings)
    connectors = _connectors(settings)
    check_ports(settings)
    try:
        store = Store(settings.db, settings.max_queue_points, settings.duckdb_memory_limit, settings.max_queue_bytes)
    except Exception as exc:
        raise ConfigError(f"cannot open {settings.db}: {first_line(exc)}") from None
    collector = Collector(settings, store, auth, installers, connectors)
    asyncio.run(collector.run())
    if collector.exit_code:
        raise SystemExit(collector.exit_code)
