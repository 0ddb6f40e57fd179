"""The dashboard's entry point (``trellis dashboard`` runs ``streamlit run`` on this file).

It finds the collector (or the read-only file), signs the person in, draws the shared filters and runs
the page chosen in the navigation.
"""

from __future__ import annotations

import importlib
import threading

import streamlit as st

from trellis.dashboard import auth, data, filters
from trellis.dashboard.config import load
from trellis.dashboard.context import Context, set_current
from trellis.dashboard.source import DashboardError, Source, locate

PAGES = {
    "Platform": [
        st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", url_path="overview", default=True),
        st.Page("views/delivery.py", title="Delivery", icon=":material/rocket_launch:", url_path="delivery"),
        st.Page("views/resources.py", title="Resource usage", icon=":material/memory:", url_path="resources"),
    ],
    "Catalog": [
        st.Page("views/catalog.py", title="Catalog", icon=":material/category:", url_path="catalog"),
        st.Page("views/rollouts.py", title="Rollouts", icon=":material/sync:", url_path="rollouts"),
        st.Page("views/approvals.py", title="Approvals and audit", icon=":material/task_alt:", url_path="approvals"),
        st.Page("views/legacy.py", title="Legacy", icon=":material/inventory_2:", url_path="legacy"),
    ],
    "Data": [
        st.Page("views/reports.py", title="Reports", icon=":material/description:", url_path="reports"),
        st.Page("views/explore.py", title="Explore", icon=":material/search:", url_path="explore"),
        st.Page("views/connectors.py", title="Connectors", icon=":material/webhook:", url_path="connectors"),
    ],
}


WARM = ("altair", "pandas", "trellis.dashboard.charts", "trellis.dashboard.editor", "trellis.dashboard.figures",
        "trellis.dashboard.flows", "trellis.dashboard.reports")  # fmt: skip
"""What the pages import beyond this file: altair and pandas take 0.2 to 0.6 s to import."""


@st.cache_resource(show_spinner=False)
def _warm_up() -> threading.Thread:
    """Import ``WARM`` in the background, once per process, from its first run on (the sign-in form, or the
    first page): otherwise the first page with a chart or a pandas widget after a start waits for them."""
    thread = threading.Thread(target=_import, args=(WARM,), name="trellis-warm-up", daemon=True)
    thread.start()
    return thread


def _import(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)


@st.cache_data(ttl=10, show_spinner=False)
def _locate(api: str, db: str | None) -> Source:
    return locate(api, db, None)


def _options(ctx: Context) -> tuple[list[str], list[str]]:
    """Teams and environments seen in deployments and catalog bindings, for the filters."""
    try:
        parts = ["SELECT service_namespace AS team, environment AS env FROM deployments"]
        if data.has(ctx, "catalog_bindings"):
            parts.append("SELECT app, env FROM catalog_bindings")
        frame = data.sql(ctx, f"SELECT DISTINCT team, env FROM ({' UNION ALL '.join(parts)})")
    except DashboardError:
        return [], []
    teams = sorted({t for t in frame["team"].to_list() if t})
    envs = sorted({e for e in frame["env"].to_list() if e})
    return teams, envs


def main() -> None:
    st.set_page_config(page_title="Trellis", page_icon=":material/park:", layout="wide")
    _warm_up()
    page = st.navigation(PAGES)
    config = load()
    try:
        source = _locate(config.api, config.db)
    except DashboardError as exc:
        st.title("Trellis")
        st.error(str(exc), icon=":material/cloud_off:")
        st.stop()
    token, identity = auth.sign_in(source, config)
    unfiltered = Context(source, token, identity, filters.Filters(filters.today(), filters.today()))
    teams, envs = _options(unfiltered) if identity.can("read") else ([], [])
    chosen = filters.sidebar(teams, envs)  # drawn on every run, signed in or not, so the choices stay
    if not identity.can("read"):
        st.title("Trellis")
        st.info("Sign in (in the sidebar) to see the platform.", icon=":material/key:")
        st.stop()
    st.sidebar.caption(f"Data: {source.describe()}")
    if not source.editable:
        st.sidebar.warning("Editing is off: the file is open read-only.", icon=":material/lock:")
    set_current(Context(source, token, identity, chosen))
    page.run()


main()
