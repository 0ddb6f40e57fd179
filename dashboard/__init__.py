"""The Streamlit dashboard: every page reads and writes through the collector's API (``trellis dashboard``)."""
