"""Running the dashboard in-process with Streamlit's AppTest."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP

TIMEOUT = 60


def open_app(monkeypatch: Any, api: str, token: str | None = None, db: str | None = None) -> AppTest:
    """The dashboard against ``api`` (and ``db``), signed in with ``token``, after its first run."""
    monkeypatch.setenv("TRELLIS_API", api)
    if token:
        monkeypatch.setenv("TRELLIS_TOKEN", token)
    if db:
        monkeypatch.setenv("TRELLIS_DASHBOARD_DB", db)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    return at.run()


def page(at: AppTest, name: str) -> AppTest:
    """Switch to a page and run it."""
    if name != "overview":
        at.switch_page(f"views/{name}.py")
    else:
        at.switch_page("views/overview.py")
    return at.run()


def problems(at: AppTest) -> list[str]:
    """Exceptions and error boxes on the page: none is expected on a page that works."""
    return [f"exception: {e.value}" for e in at.exception] + [f"error: {e.value}" for e in at.error]


def texts(at: AppTest) -> str:
    """Every piece of text the page shows, for 'is it there' checks."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error", "code"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}={m.value}" for m in at.metric]
    return "\n".join(parts)


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return str(found[0])


def frames(at: AppTest) -> list[Any]:
    """The tables on the page, as pandas DataFrames."""
    return [d.value for d in at.dataframe]
