"""The receivers' parts that need no collector: the registry, times as each tool writes them, signatures."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from trellis.collector import SenderRefused, register_receiver
from trellis.collector.webhooks.connectors import PagerDutyConfig
from trellis.collector.webhooks.gitlab import gitlab_time
from trellis.collector.webhooks.opsgenie import epoch_instant
from trellis.collector.webhooks.pagerduty import PagerDutyReceiver
from trellis.collector.webhooks.receiver import PayloadUnreadable
from trellis.collector.webhooks.registry import RECEIVERS

NOON = 1_767_268_800_000_000_000
"""2026-01-01T12:00:00Z in ns."""


def test_a_second_receiver_for_a_source_is_refused() -> None:
    with pytest.raises(ValueError, match="a webhook receiver for 'github' is registered already"):
        register_receiver(RECEIVERS["github"])


GITLAB_LAYOUTS = ["2026-01-01 14:00:00 +0200", "2026-01-01 12:00:00 UTC", "2026-01-01T12:00:00Z", "2026-01-01T07:00-05"]


@pytest.mark.parametrize("text", GITLAB_LAYOUTS)
def test_gitlab_times_in_each_of_its_layouts(text: str) -> None:
    assert gitlab_time({"at": text}, "at") == NOON


def test_a_gitlab_time_without_a_zone_is_named() -> None:
    with pytest.raises(PayloadUnreadable, match="the payload's at is '2026-01-01 12:00:00', not a time with a time"):
        gitlab_time({"at": "2026-01-01 12:00:00"}, "at")


@pytest.mark.parametrize("number", [1_767_268_800, 1_767_268_800_000, NOON])
def test_opsgenie_times_in_seconds_milliseconds_or_nanoseconds(number: int) -> None:
    assert epoch_instant({"alert": {"at": number}}, "alert.at") == NOON


def test_a_pagerduty_signature_is_checked_against_every_signature_given() -> None:
    body, secret, config = b'{"event": {}}', "s3cret", PagerDutyConfig(secret_env="X")
    good = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    receiver = PagerDutyReceiver()

    receiver.verify({"x-pagerduty-signature": f"v1=00,{good}"}, body, secret, config)
    with pytest.raises(SenderRefused, match="no X-PagerDuty-Signature signature matches"):
        receiver.verify({"x-pagerduty-signature": good}, body + b" ", secret, config)
    with pytest.raises(SenderRefused, match="the X-PagerDuty-Signature header is missing"):
        receiver.verify({}, body, secret, config)
