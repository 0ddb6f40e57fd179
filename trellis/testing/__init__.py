"""What tests, benchmarks and users share: real collectors on free ports, OTLP payloads, store doubles
and generated analytics data.

Everything here starts or feeds the real parts (``trellis serve`` in a subprocess, OTLP over HTTP);
nothing is a mock.
"""

from trellis.testing.analytics_store import SMALL_STORE_PERIOD, build_analytics_store, make_small_analytics_store
from trellis.testing.collector import (
    RunningCollector,
    clean_environment,
    finish,
    free_port,
    free_ports,
    start_collector,
    trellis,
    wait_healthy,
)
from trellis.testing.otlp import (
    BASE_NS,
    KEY_STRIDE,
    PROTOBUF_HEADERS,
    gauge_points,
    logs_request,
    metrics_export,
    metrics_request,
    spans_request,
    stored_exports,
    unique,
)
from trellis.testing.store import count_rows, gauge_batch

__all__ = [
    "BASE_NS",
    "KEY_STRIDE",
    "PROTOBUF_HEADERS",
    "SMALL_STORE_PERIOD",
    "RunningCollector",
    "build_analytics_store",
    "clean_environment",
    "count_rows",
    "finish",
    "free_port",
    "free_ports",
    "gauge_batch",
    "gauge_points",
    "logs_request",
    "make_small_analytics_store",
    "metrics_export",
    "metrics_request",
    "spans_request",
    "start_collector",
    "stored_exports",
    "trellis",
    "unique",
    "wait_healthy",
]
