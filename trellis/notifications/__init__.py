"""Notifications: rules that send the catalog's events and conditions on the platform to webhooks, Slack
and e-mail, recorded in the ``notifications`` table and retried (docs/notifications.md).

Other packages use only what is listed here:

- ``install_routes(ctx, settings)``: the scheduled turns and ``GET /api/v1/notifications`` (the server
  installs them after the catalog's routes);
- ``NotificationsSettings`` and ``NotificationsFileError``; ``read_notifications`` to check a file.
"""

from trellis.notifications.api import install as install_routes
from trellis.notifications.rules import NotificationsFileError, read_notifications
from trellis.notifications.settings import NotificationsSettings

__all__ = ["NotificationsFileError", "NotificationsSettings", "install_routes", "read_notifications"]
