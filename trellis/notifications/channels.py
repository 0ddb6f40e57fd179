"""Sending a notification on a channel: a signed JSON webhook, a Slack-compatible message, or an e-mail.

``send`` makes one attempt and returns None when the channel accepted it, or why not as one sentence that
never holds the channel's URL or secret.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import httpx
import orjson

from trellis.catalog import webhook_signature
from trellis.notifications.outbox import Due
from trellis.notifications.rules import Channel, EmailChannel, SlackChannel, WebhookChannel, secret

TIMEOUT_SECONDS = 10.0


def send(channel: Channel, item: Due, dashboard_url: str | None) -> str | None:
    """One attempt to deliver ``item`` on ``channel``."""
    link = f"{dashboard_url.rstrip('/')}/{item.payload.get('link', '')}" if dashboard_url else None
    try:
        if isinstance(channel, WebhookChannel):
            body = webhook_body(item, link)
            return _post(channel.url, body, _signed(channel, body))
        if isinstance(channel, SlackChannel):
            return _post(channel.url, orjson.dumps(slack_message(item, link)), {})
        return _mail(channel, item, link)
    except (OSError, smtplib.SMTPException, httpx.HTTPError) as exc:
        return _without(f"{type(exc).__name__}: {exc}", channel)


def webhook_body(item: Due, link: str | None) -> bytes:
    """The generic webhook's JSON: the event, the rule, the subject, a link and what the event says."""
    body = {"event": item.event, "rule": item.rule, "subject": item.subject, "link": link, "data": item.payload["data"]}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _signed(channel: WebhookChannel, body: bytes) -> dict[str, str]:
    key = secret(channel.secret_env)
    return {"X-Trellis-Signature": webhook_signature(key, body)} if key else {}


def slack_message(item: Due, link: str | None) -> dict[str, Any]:
    """A Block Kit message: the subject, the details, and a button to the dashboard's page when known."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": item.subject[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": details(item)}},
    ]
    if link:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in Trellis"}, "url": link}
        blocks.append({"type": "actions", "elements": [button]})
    return {"text": item.subject, "blocks": blocks}


def details(item: Due) -> str:
    """What the event says, a line per field, for a message's body."""
    lines = [f"{name}: {_plain(value)}" for name, value in item.payload["data"].items()]
    return "\n".join([f"Rule {item.rule} ({item.event}).", *lines])


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def _post(url: str, body: bytes, headers: dict[str, str]) -> str | None:
    sent = {"Content-Type": "application/json", **headers}
    response = httpx.post(url, content=body, headers=sent, timeout=TIMEOUT_SECONDS)
    return None if response.status_code < 300 else f"the receiver answered HTTP {response.status_code}"


def recipients(channel: EmailChannel, item: Due) -> list[str]:
    """The approvers' addresses when the notice names people the channel knows; the channel's ``to`` otherwise."""
    named = [channel.addresses[who] for who in item.payload.get("recipients", []) if who in channel.addresses]
    return named or channel.to


def _mail(channel: EmailChannel, item: Due, link: str | None) -> str | None:
    to = recipients(channel, item)
    if not to:
        return "the e-mail has no recipient: give the channel a to list or addresses for the people notified"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = channel.from_, ", ".join(to), item.subject
    message.set_content(details(item) + (f"\n\n{link}" if link else "") + "\n")
    with smtplib.SMTP(channel.host, channel.port, timeout=TIMEOUT_SECONDS) as smtp:
        if channel.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if channel.username:
            smtp.login(channel.username, secret(channel.password_env) or "")
        smtp.send_message(message)
    return None


def _without(text: str, channel: Channel) -> str:
    """An error without the channel's URL, which may carry a token."""
    url = getattr(channel, "url", None)
    return text.replace(url, "<url>") if url else text


__all__ = ["details", "recipients", "send", "slack_message", "webhook_body"]
