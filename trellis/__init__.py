"""Trellis: a resource catalog and an OpenTelemetry collector for the teams who run a developer platform.

The packages stand on floors, and each imports only from the floors below it:

1. ``trellis.collector``: OTLP receivers, the DuckDB store, the query guard, tokens, the core API and
   the Python client;
2. ``trellis.catalog`` and ``trellis.analytics``: the resource catalog and the analytics jobs;
3. ``trellis.dashboard`` and ``trellis.simulator``: the Streamlit pages, and the sample organisation
   with the demo;
4. this package's own modules: ``trellis.cli`` (the ``trellis`` command), ``trellis.server`` (the
   collector with every package's routes), ``trellis.settings`` (every setting in one list) and
   ``trellis.testing`` (what tests, benchmarks and users share to start collectors and make data).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trellis")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
