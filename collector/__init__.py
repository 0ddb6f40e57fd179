"""The collector: OTLP over gRPC and HTTP into DuckDB, and the API every other part reads through.

Other packages use only what is listed here.
"""

from collector.client import Client, ClientError, CollectorRunning
from collector.settings import Settings

__all__ = ["Client", "ClientError", "CollectorRunning", "Settings"]
