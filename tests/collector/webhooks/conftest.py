"""A collector with a connectors file, and signed deliveries posted to it over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from trellis.collector import Client
from trellis.testing import RunningCollector

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SECRETS = {
    "github": "gh-secret-for-tests-0123456789",
    "gitlab": "gl-token-for-tests-0123456789",
    "pagerduty": "pd-secret-for-tests-0123456789",
    "opsgenie": "og-token-for-tests-0123456789",
}
"""Each source's secret, handed to the collector in an environment variable."""


def secret_env(source: str) -> str:
    return f"{source.upper()}_WEBHOOK_SECRET"


@pytest.fixture
def webhook_collector(
    make_collector: Callable[..., RunningCollector], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[dict[str, Any]], RunningCollector]:
    """Factory: a collector whose connectors file has these sections (``secret_env`` filled in)."""

    def start(sections: dict[str, Any]) -> RunningCollector:
        for source in sections:
            monkeypatch.setenv(secret_env(source), SECRETS[source])
        document = {source: {"secret_env": secret_env(source), **section} for source, section in sections.items()}
        path = tmp_path / "connectors.yaml"
        path.write_text(yaml.safe_dump(document))
        return make_collector("--connectors-file", str(path))

    return start


def payload(folder: str, name: str) -> dict[str, Any]:
    return dict(orjson.loads((FIXTURES / folder / name).read_bytes()))


def post(running: RunningCollector, source: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{running.api}/api/v1/webhooks/{source}", content=body, headers=headers, timeout=30)


def github_signature(body: bytes, secret: str = SECRETS["github"]) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_github(
    running: RunningCollector, event: str, document: dict[str, Any], delivery: str | None = None,
    signature: str | None = None,
) -> httpx.Response:  # fmt: skip
    """Post a GitHub delivery, signed with the test secret unless ``signature`` says otherwise ('' for none)."""
    body = orjson.dumps(document)
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "Content-Type": "application/json"}  # fmt: skip
    sign = github_signature(body) if signature is None else signature
    if sign:
        headers["X-Hub-Signature-256"] = sign
    return post(running, "github", body, headers)


def rows(running: RunningCollector, sql: str) -> list[dict[str, Any]]:
    with Client(running.api) as client:
        return list(client.sql(sql).to_dicts())


def only_deployment(running: RunningCollector) -> dict[str, Any]:
    """The one row of ``deployments``, with its times as RFC 3339 text (``finished``, ``first_commit``)."""
    found = rows(
        running,
        "SELECT *, strftime(finished_at, '%Y-%m-%dT%H:%M:%SZ') AS finished, "
        "strftime(first_commit_at, '%Y-%m-%dT%H:%M:%SZ') AS first_commit FROM deployments",
    )
    assert len(found) == 1, found
    return found[0]


def deliveries(running: RunningCollector) -> list[dict[str, Any]]:
    return rows(running, "SELECT source, delivery_id, event, outcome, reason, records FROM webhook_deliveries "
                         "ORDER BY received_at")  # fmt: skip


def counts(running: RunningCollector) -> tuple[int, int, int]:
    """Deployments, incidents and event records in otel_logs."""
    found = rows(
        running,
        "SELECT (SELECT count(*) FROM deployments) AS d, (SELECT count(*) FROM incidents) AS i, "
        "(SELECT count(*) FROM otel_logs WHERE event_name IS NOT NULL) AS e",
    )[0]
    return found["d"], found["i"], found["e"]


def send_signed(
    running: RunningCollector, source: str, document: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """Post a delivery whose headers are built from its body: ``headers`` values may hold ``{signature}``, the
    body's hex HMAC-SHA256 under the source's test secret."""
    body = orjson.dumps(document)
    signature = hmac.new(SECRETS[source].encode(), body, hashlib.sha256).hexdigest()
    filled = {name: value.format(signature=signature) for name, value in headers.items()}
    return post(running, source, body, {"Content-Type": "application/json", **filled})
