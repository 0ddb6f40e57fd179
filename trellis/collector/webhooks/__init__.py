"""Webhook receivers: GitHub, GitLab, PagerDuty and Opsgenie deliveries become deployment and incident
events (docs/connectors.md).

One module per source, each a ``Receiver`` (``receiver.py``) registered in ``registry.py``; the
connectors file (``connectors.py``) gives each source its secret and its workloads. ``route.py``
serves them at ``POST /api/v1/webhooks/{source}``. This package imports nothing of the store at its
top, so that the store may take the delivery tables' SQL from ``records``.
"""
