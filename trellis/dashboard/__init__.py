"""The Streamlit dashboard: every page reads and writes through the collector's API (``trellis dashboard``).

Other packages use only what is listed here: the command that starts it, and how it is started.
"""

from trellis.dashboard.cli import dashboard_env, streamlit_command
from trellis.dashboard.cli import register as register_commands

__all__ = ["dashboard_env", "register_commands", "streamlit_command"]
