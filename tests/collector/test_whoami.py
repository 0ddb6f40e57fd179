"""GET /api/v1/whoami: whose token it is, its scopes (admin includes read and ingest) and groups."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from trellis.testing import RunningCollector


def test_whoami_names_the_token_its_scopes_and_groups(
    make_collector: Callable[..., RunningCollector], tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": [
        {"name": "alice", "token": "tok-alice-1234567890", "scopes": ["admin"]},
        {"name": "bob", "token": "tok-bob-1234567890", "scopes": ["approve"], "groups": ["platform-admins"]},
        {"name": "ci", "token": "tok-ci-1234567890", "scopes": ["ingest"]},
    ]}))  # fmt: skip
    collector = make_collector("--tokens-file", str(tokens), headers={"Authorization": "Bearer tok-alice-1234567890"})

    def whoami(token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{collector.api}/api/v1/whoami", headers=headers, timeout=10)

    alice = whoami("tok-alice-1234567890").json()
    assert alice == {
        "name": "alice",
        "scopes": ["ingest", "read", "deploy", "propose", "admin"],
        "groups": [],
        "tokens": True,
    }
    bob = whoami("tok-bob-1234567890").json()
    assert bob == {"name": "bob", "scopes": ["approve"], "groups": ["platform-admins"], "tokens": True}
    assert whoami("tok-ci-1234567890").json()["scopes"] == ["ingest"]  # any valid token may ask
    assert whoami(None).status_code == 401 and "required" in whoami(None).json()["error"]
    assert whoami("nope").status_code == 401 and "not valid" in whoami("nope").json()["error"]


def test_without_tokens_everyone_is_anonymous_with_every_scope(collector: RunningCollector) -> None:
    answer = httpx.get(f"{collector.api}/api/v1/whoami", timeout=10).json()
    assert answer == {
        "name": None,
        "scopes": ["ingest", "read", "deploy", "propose", "admin", "approve"],
        "groups": [],
        "tokens": False,
    }
