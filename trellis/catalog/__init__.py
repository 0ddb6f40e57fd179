"""The resource catalog: definitions, matching, versions, approvals, audit and legacy import.

Other packages use only what is listed here:

- ``CatalogClient`` and ``connect``: run catalog operations by name through a running collector, or on
  the database file when none runs (the CLI, the dashboard, the simulator and Python users);
  ``open_read_only`` for a file that must not change (it answers the ``READ_OPERATIONS``), and
  ``CatalogCalls``, the protocol of anything that runs catalog operations by name;
- ``install_routes(ctx, settings)``: the catalog's routes on the collector's API, with webhooks and
  housekeeping (the server mounts them);
- ``register_commands(app)``: ``trellis resources``, ``resolve``, ``check``, ``explain`` and ``audit``;
- ``Catalog`` (the service on a DuckDB connection) and ``migrate_catalog``, for tools that hold a
  database of their own, such as the simulator's replay on its simulated clock;
- ``DRIVERS`` and ``validate_params``, so an editor checks a document the way the catalog will;
- ``plan_headline`` and ``diff_text``: the blast radius and a diff in words, as the CLI prints them;
- ``pending_changes``: the governed changes of documents other than definitions that wait, with who is
  missing and who can approve;
- ``consumer_convergence``: who consumes a definition, on which version, and how long each lags the active one;
- ``webhook_signature``: how the catalog signs a webhook's body, for other senders that sign alike;
- ``CatalogSettings`` and the errors a user can cause.
"""

from trellis.catalog.api import install as install_routes
from trellis.catalog.cli import register as register_commands
from trellis.catalog.client import READ_OPERATIONS, CatalogCalls, CatalogClient, connect, open_read_only
from trellis.catalog.convergence import convergence as consumer_convergence
from trellis.catalog.documents import DocumentError
from trellis.catalog.drivers import DRIVERS, DriverError
from trellis.catalog.errors import CatalogError
from trellis.catalog.governance import pending as pending_changes
from trellis.catalog.importers import LegacyImportError
from trellis.catalog.params import validate_params
from trellis.catalog.plan_text import diff_text
from trellis.catalog.plan_text import headline as plan_headline
from trellis.catalog.service import Catalog
from trellis.catalog.settings import CatalogSettings
from trellis.catalog.tables import migrate_catalog
from trellis.catalog.webhooks import WebhooksFileError
from trellis.catalog.webhooks import signature as webhook_signature

__all__ = [
    "DRIVERS",
    "READ_OPERATIONS",
    "Catalog",
    "CatalogCalls",
    "CatalogClient",
    "CatalogError",
    "CatalogSettings",
    "DocumentError",
    "DriverError",
    "LegacyImportError",
    "WebhooksFileError",
    "connect",
    "consumer_convergence",
    "diff_text",
    "install_routes",
    "migrate_catalog",
    "open_read_only",
    "pending_changes",
    "plan_headline",
    "register_commands",
    "validate_params",
    "webhook_signature",
]
