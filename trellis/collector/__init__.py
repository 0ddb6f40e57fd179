"""The collector: OTLP over gRPC and HTTP into DuckDB, and the API every other part reads through.

Other packages use only what is listed here.
"""

from trellis.collector.client import Client, ClientError, CollectorRunning
from trellis.collector.settings import CollectorSettings
from trellis.collector.sql_guard import open_read_only

__all__ = ["Client", "ClientError", "CollectorRunning", "CollectorSettings", "open_read_only"]
