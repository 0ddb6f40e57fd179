"""The dashboard's pages; Streamlit runs each file as a script (see ``trellis/dashboard/app.py``).

Not named ``pages/``: a folder of that name beside the entry script switches Streamlit to its older
multipage mode, which runs a page without the entry script when its URL is opened directly.
"""

__all__ = []
