"""The catalog on a running collector's API: scopes, approvals by token identity, the gate, the Python client.

One collector with a tokens file serves the whole module; each test works on its own definitions and apps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.catalog.conftest import OUTPUTS, definition, document, environments, score
from tests.conftest import TOKENS
from trellis.catalog.client import connect
from trellis.collector.client import ClientError
from trellis.testing import RunningCollector, free_port, start_collector

pytestmark = pytest.mark.slow

PEOPLE = {
    "alice": ("tok-alice-1234567890", ["approve", "read"], ["platform-admins"]),
    "bob": ("tok-bob-1234567890", ["approve"], ["platform-admins"]),
    "lead": ("tok-lead-1234567890", ["admin", "approve"], ["platform-admins"]),
}
"""Tokens beyond the shared ones: platform admins who approve. The shared 'approver' is in no group."""

RULE = document(
    "ApprovalRule",
    "production-postgres",
    {"match": {"type": "postgres", "env_type": "production"}, "approvals": 2, "group": "platform-admins"},
)


def headers(name: str) -> dict[str, str]:
    token = PEOPLE[name][0] if name in PEOPLE else TOKENS[name][0]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    folder = tmp_path_factory.mktemp("catalog-api")
    entries = [{"name": n, "token": t, "scopes": s} for n, (t, s) in TOKENS.items()]
    entries += [{"name": n, "token": t, "scopes": s, "groups": g} for n, (t, s, g) in PEOPLE.items()]
    tokens = folder / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": entries}))
    running = start_collector(folder / "trellis.duckdb", "--tokens-file", str(tokens), headers=headers("admin"))
    post(running, "/api/v1/catalog/apply", {"documents": [RULE, *environments()]}, "admin").raise_for_status()
    yield running
    running.stop()


def post(running: RunningCollector, path: str, body: dict[str, Any], who: str | None) -> httpx.Response:
    return httpx.post(f"{running.api}{path}", json=body, headers=headers(who) if who else {}, timeout=30)


def get(running: RunningCollector, path: str, who: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{running.api}{path}", params=params, headers=headers(who), timeout=30)


def audit_log(running: RunningCollector) -> list[dict[str, Any]]:
    entries = post(running, "/api/v1/catalog/audit", {"limit": 10_000}, "reader").json()["entries"]
    return list(reversed(entries))


def test_apply_needs_the_admin_scope(api: RunningCollector) -> None:
    body = {"documents": [definition("scoped", type_="dns", criteria=[{"app_id": "scoped"}])], "source": "s.yaml"}

    anonymous = post(api, "/api/v1/catalog/apply", body, None)
    reader = post(api, "/api/v1/catalog/apply", body, "reader")
    approver = post(api, "/api/v1/catalog/apply", body, "approver")
    admin = post(api, "/api/v1/catalog/apply", body, "admin")

    assert (anonymous.status_code, anonymous.json()) == (401, {"error": "a bearer token is required"})
    assert (reader.status_code, reader.json()) == (403, {"error": "token 'reader' lacks the 'propose' scope"})
    assert approver.status_code == 403
    assert admin.status_code == 200, admin.text
    assert admin.json()["changes"] == [
        {"kind": "ResourceDefinition", "id": "scoped", "action": "created", "detail": "version 1 is active",
         "warnings": []}
    ]  # fmt: skip
    names = [d["id"] for d in get(api, "/api/v1/catalog/definitions", "reader").json()["definitions"]]
    assert "scoped" in names
    entry = audit_log(api)[-2]
    assert (entry["actor"], entry["action"], entry["object"]) == ("admin", "propose", "ResourceDefinition/scoped@1")


def test_recording_a_binding_needs_the_deploy_scope_and_checking_needs_read(api: RunningCollector) -> None:
    body = {"workload": score("api", {}), "app": "a", "env": "e", "env_type": "t"}

    assert post(api, "/api/v1/resolve", body, None).status_code == 401
    assert post(api, "/api/v1/resolve", body, "ingester").status_code == 403
    assert post(api, "/api/v1/resolve", body, "bob").status_code == 403
    refused = post(api, "/api/v1/resolve", body, "reader")
    assert (refused.status_code, refused.json()) == (403, {"error": "token 'reader' lacks the 'deploy' scope"})
    assert post(api, "/api/v1/resolve", body, "deployer").status_code == 200
    assert post(api, "/api/v1/resolve", body, "admin").status_code == 200  # admin includes deploy
    assert post(api, "/api/v1/deployments/check", body, "reader").status_code == 200
    assert post(api, "/api/v1/deployments/check", body, "deployer").status_code == 200  # deploy includes read


def test_a_bad_document_is_refused_naming_source_document_and_field(api: RunningCollector) -> None:
    body = {"documents": [definition("ok-doc", type_="dns", criteria=[{"app_id": "bad-doc"}]),
                          definition("bad-doc", params={"size": 3})], "source": "team.yaml"}  # fmt: skip

    response = post(api, "/api/v1/catalog/apply", body, "admin")

    assert response.status_code == 400
    assert response.json()["error"] == "team.yaml (document 2): field spec.params.size: 3 is not of type 'string'"
    names = [d["id"] for d in get(api, "/api/v1/catalog/definitions", "reader").json()["definitions"]]
    assert "ok-doc" not in names


def test_approving_needs_the_approve_scope_and_membership_and_records_the_token_name(api: RunningCollector) -> None:
    proposal = definition("orders", criteria=[{"app_id": "orders", "env_type": "production"}])
    answer = post(api, "/api/v1/catalog/apply", {"documents": [proposal]}, "lead").json()
    assert answer["changes"][0]["detail"] == (
        "version 1 awaits approval: production-postgres needs 2 more from platform-admins"
    )
    approve = {"definition": "orders", "version": 1}

    as_admin = post(api, "/api/v1/catalog/approve", approve, "admin")
    as_outsider = post(api, "/api/v1/catalog/approve", approve, "approver")
    as_proposer = post(api, "/api/v1/catalog/approve", approve, "lead")
    first = post(api, "/api/v1/catalog/approve", approve, "alice")

    assert (as_admin.status_code, as_admin.json()["error"]) == (403, "token 'admin' lacks the 'approve' scope")
    assert (as_outsider.status_code, as_outsider.json()["error"]) == (
        403, "approver is not in platform-admins, whose approval this change needs",
    )  # fmt: skip
    assert (as_proposer.status_code, as_proposer.json()["error"]) == (
        403, "you proposed this change; someone else must approve it",
    )  # fmt: skip
    assert first.json() == {
        "result": "version 1 awaits approval: production-postgres needs 1 more from platform-admins"
    }
    pending = get(api, "/api/v1/catalog/pending", "reader").json()["pending"]
    (mine,) = [p for p in pending if p["definition"] == "orders"]
    assert (mine["approvals"], mine["missing"]) == (
        ["alice"],
        ["production-postgres needs 1 more from platform-admins"],
    )

    second = post(api, "/api/v1/catalog/approve", approve, "bob")

    assert second.json() == {"result": "version 1 is active"}
    tail = [(e["actor"], e["action"], e["object"]) for e in audit_log(api)[-4:]]
    assert tail == [
        ("lead", "propose", "ResourceDefinition/orders@1"),
        ("alice", "approve", "ResourceDefinition/orders@1"),
        ("bob", "approve", "ResourceDefinition/orders@1"),
        ("trellis", "activate", "ResourceDefinition/orders@1"),
    ]


def test_an_approval_is_bound_to_the_content_the_approver_saw(api: RunningCollector) -> None:
    def propose(host: str, base: int) -> httpx.Response:
        document = definition(
            "billing", criteria=[{"app_id": "billing"}], outputs={**OUTPUTS["postgres"], "host": host}
        )
        return post(api, "/api/v1/catalog/propose", {"document": document, "base_version": base}, "admin")

    assert propose("seen", 0).status_code == 200
    seen = [p for p in get(api, "/api/v1/catalog/pending", "alice").json()["pending"] if p["definition"] == "billing"]
    seen_hash = seen[0]["content_hash"]
    post(api, "/api/v1/catalog/approve", {"definition": "billing", "version": 1, "content_hash": seen_hash}, "alice")
    stale_edit = propose("edited-from-stale", 0)
    assert (stale_edit.status_code, stale_edit.json()["error"]) == (
        409, "the proposal for billing starts from version 0, but the latest is 1; reload and propose again",
    )  # fmt: skip
    assert propose("changed", 1).status_code == 200

    stale = post(api, "/api/v1/catalog/approve", {"definition": "billing", "version": 2, "content_hash": seen_hash},
                 "bob")  # fmt: skip
    withdrawn = post(api, "/api/v1/catalog/approve", {"definition": "billing", "version": 1}, "bob")

    assert (stale.status_code, stale.json()["error"]) == (
        409,
        "the version changed since you reviewed it; review it again",
    )
    assert (withdrawn.status_code, withdrawn.json()["error"]) == (
        409, "version 1 of billing is withdrawn, not awaiting approval",
    )  # fmt: skip
    pending = [
        p for p in get(api, "/api/v1/catalog/pending", "reader").json()["pending"] if p["definition"] == "billing"
    ]
    assert [(p["version"], p["approvals"]) for p in pending] == [(2, [])]
    assert pending[0]["diff"] == {"before": None, "after": pending[0]["diff"]["after"]}


def test_the_deployment_gate_allows_and_denies(api: RunningCollector) -> None:
    documents = [
        definition("gate-dev", criteria=[{"app_id": "gate", "env_type": "development"}]),
        definition("gate-prod", criteria=[{"app_id": "gate", "env_type": "production"}]),
    ]
    post(api, "/api/v1/catalog/apply", {"documents": documents}, "admin").raise_for_status()
    app = score("web")

    dev = {"workload": app, "app": "gate", "env": "dev", "env_type": "development"}
    prod = {"workload": app, "app": "gate", "env": "prod", "env_type": "production"}

    allow = post(api, "/api/v1/deployments/check", dev, "reader")
    deny = post(api, "/api/v1/deployments/check", prod, "reader")

    assert allow.status_code == deny.status_code == 200
    assert allow.json() == {"decision": "allow", "reasons": [], "warnings": []}
    assert deny.json() == {
        "decision": "deny",
        "reasons": ["resource db: needs version 1 of gate-prod, which awaits approval"],
        "warnings": [],
    }


def test_resolve_explain_and_a_miss_over_http(api: RunningCollector) -> None:
    post(api, "/api/v1/catalog/apply", {"documents": [
        definition("web-dns", type_="dns", criteria=[{"app_id": "web"}], outputs={"host": "web.example.com"}),
        definition("web-dns-prod", type_="dns", criteria=[{"app_id": "web", "env_id": "prod"}],
                   outputs={"host": "www.example.com"}),
    ]}, "admin").raise_for_status()  # fmt: skip
    app = score("site", {"dns": {"type": "dns"}})

    hit = post(
        api, "/api/v1/resolve", {"workload": app, "app": "web", "env": "prod", "env_type": "production"}, "deployer"
    )
    miss = post(api, "/api/v1/resolve", {"workload": app, "app": "nope", "env": "prod", "env_type": "production"},
                "deployer")  # fmt: skip
    why = post(api, "/api/v1/explain", {"type": "dns", "app": "web", "env": "prod", "env_type": "production",
                                        "res_id": "site.dns"}, "reader")  # fmt: skip

    assert hit.json() == {
        "workload": "site", "app": "web", "env": "prod",
        "resources": {"dns": {"type": "dns", "class": "default", "definition": "web-dns-prod", "version": 1,
                              "outputs": {"host": "www.example.com"}}},
        "env_type": "production", "warnings": [],
    }  # fmt: skip
    assert miss.status_code == 400
    assert miss.json()["error"] == (
        "resource dns: no definition of type dns and class default matches app nope, env prod (production), "
        "res_id site.dns"
    )
    assert why.json()["definition"] == "web-dns-prod"
    lines = why.json()["lines"]
    assert lines[0] == "web-dns-prod wins with rule {class=default, app_id=web, env_id=prod}"
    assert "web-dns: rule {class=default, app_id=web} matches but is less specific" in lines
    assert get(api, "/api/v1/catalog/audit/verify", "reader").json()["ok"] is True


def test_the_python_client_talks_to_the_running_collector(api: RunningCollector, tmp_path: Path) -> None:
    admin = connect(api.api, PEOPLE["lead"][0], api.db)
    reader = connect(api.api, TOKENS["reader"][0], api.db)
    deployer = connect(api.api, TOKENS["deployer"][0], api.db)
    try:
        assert admin.where == f"collector at {api.api}"
        changes = admin.call("apply", {"documents": [
            definition("client-dns", type_="dns", criteria=[{"app_id": "client"}], outputs={"host": "c.example"})
        ]})["changes"]  # fmt: skip
        assert changes[0]["action"] == "created"
        answer = deployer.call(
            "resolve",
            {"workload": score("svc", {"dns": {"type": "dns"}}), "app": "client", "env": "e", "env_type": "t"},
        )
        assert answer["resources"]["dns"]["outputs"] == {"host": "c.example"}
        with pytest.raises(ClientError, match="403: token 'reader' lacks the 'propose' scope"):
            reader.call("apply", {"documents": []})
        exported = reader.call("export")["documents"]
        assert any(d["metadata"]["id"] == "client-dns" for d in exported)
    finally:
        admin.close()
        reader.close()
        deployer.close()
    assert api.process.poll() is None


def test_the_python_client_opens_the_database_when_no_collector_runs(tmp_path: Path) -> None:
    db = tmp_path / "local.duckdb"
    local = connect(f"http://127.0.0.1:{free_port()}", None, db)
    try:
        assert local.where == "database file (no collector running)"
        local.call("apply", {"documents": [definition("local-dns", type_="dns", outputs={"host": "l"})]})
        assert [d["id"] for d in local.call("definitions")["definitions"]] == ["local-dns"]
    finally:
        local.close()
    assert db.exists()
