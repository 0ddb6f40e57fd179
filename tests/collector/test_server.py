"""The collector's own start and stop: an API that cannot start stops the whole collector."""

from __future__ import annotations

import socket
from types import SimpleNamespace

from starlette.applications import Starlette

from trellis.collector.server import Collector, _uvicorn


def test_an_api_that_cannot_bind_stops_the_collector_with_status_1() -> None:
    """A port taken between the start-up check and the bind once left a collector without its API."""
    stopped: list[bool] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        collector = SimpleNamespace(settings=SimpleNamespace(host="127.0.0.1", api_port=port), exit_code=0)
        Collector._serve_api(
            collector, _uvicorn(Starlette(), "127.0.0.1", port, "critical"), lambda: stopped.append(True)
        )  # type: ignore[arg-type]

    assert stopped == [True]
    assert collector.exit_code == 1
