"""The sample organisation (``sample_data/``) driven into a collector, and ``trellis demo``.

A client of the floors below: it sends OTLP like any exporter, replays the catalog's history through
the catalog's operations and runs the analytics. Other packages use only what is listed here.
"""

from trellis.simulator.cli import register as register_commands
from trellis.simulator.model import SAMPLE_DATA, Organisation, SimulationError, load_organisation

__all__ = ["SAMPLE_DATA", "Organisation", "SimulationError", "load_organisation", "register_commands"]
