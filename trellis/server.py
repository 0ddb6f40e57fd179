"""The server that composes Trellis: the collector, with the catalog's, the analytics' and the
notifications' routes mounted (the notifications after the catalog, whose events they follow)."""

from __future__ import annotations

from trellis.analytics import config_from_settings
from trellis.analytics import install_routes as analytics_routes
from trellis.catalog import install_routes as catalog_routes
from trellis.collector import ApiContext
from trellis.collector import serve as serve_collector
from trellis.notifications import install_routes as notifications_routes
from trellis.settings import Settings


def serve(settings: Settings) -> None:
    """Run the collector with every package's routes until SIGINT or SIGTERM."""

    def catalog(ctx: ApiContext) -> None:
        catalog_routes(ctx, settings)

    def analytics(ctx: ApiContext) -> None:
        analytics_routes(ctx, settings)

    def notifications(ctx: ApiContext) -> None:
        notifications_routes(ctx, settings, config_from_settings(settings))

    serve_collector(settings, [catalog, analytics, notifications])


__all__ = ["serve"]
