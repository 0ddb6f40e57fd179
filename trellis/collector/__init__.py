"""The collector: OTLP over gRPC and HTTP into DuckDB, and the API every other part reads through.

Other packages use only what is listed here.
"""

from trellis.collector.client import Client, ClientError, CollectorRunning
from trellis.collector.settings import CollectorSettings

__all__ = ["Client", "ClientError", "CollectorRunning", "CollectorSettings"]
