"""The webhook receivers by source name: the built-in ones, registered as any other would be."""

from __future__ import annotations

from typing import Any

from trellis.collector.webhooks.github import GitHubReceiver
from trellis.collector.webhooks.gitlab import GitLabReceiver
from trellis.collector.webhooks.opsgenie import OpsgenieReceiver
from trellis.collector.webhooks.pagerduty import PagerDutyReceiver
from trellis.collector.webhooks.receiver import Receiver

RECEIVERS: dict[str, Receiver[Any]] = {}
"""Every receiver by the source name of its URL (``/api/v1/webhooks/{source}``) and connectors file section."""


def register_receiver(receiver: Receiver[Any]) -> None:
    """Serve ``receiver`` at ``/api/v1/webhooks/<receiver.source>``."""
    if receiver.source in RECEIVERS:
        raise ValueError(f"a webhook receiver for {receiver.source!r} is registered already")
    RECEIVERS[receiver.source] = receiver


for _builtin in (GitHubReceiver(), GitLabReceiver(), PagerDutyReceiver(), OpsgenieReceiver()):
    register_receiver(_builtin)

__all__ = ["RECEIVERS", "register_receiver"]
