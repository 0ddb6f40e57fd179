"""The catalog's commands as a user runs them: exit codes, what goes to stdout and what to stderr.

Most tests use ``--db`` on a copy of a database seeded once per module; the last ones go through ``--api``.
``cli`` runs the real entry point (``trellis.cli.main``: parsing, error lines, exit codes) in this process,
because starting Python per command is slow; ``trellis`` runs a real process for what only a process shows.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tests.catalog.conftest import (
    OUTPUTS,
    apply_docs,
    definition,
    document,
    pin,
    production_approval_rule,
    score,
    table_rows,
    write_yaml,
)
from tests.conftest import ROOT, TOKENS
from trellis.catalog.service import Catalog
from trellis.cli import main
from trellis.testing import RunningCollector, start_collector

pytestmark = pytest.mark.slow

SEED = [
    document("Policy", "ha", {"match": {"env_type": "production"}, "effect": "warn", "message": "consider HA",
                              "rule": {"path": "params.high_availability", "op": "eq", "value": True}}),
    definition("dev-db", criteria=[{"env_type": "development"}], outputs={**OUTPUTS["postgres"], "host": "dev"}),
    definition("prod-db", criteria=[{"env_type": "production"}], outputs={**OUTPUTS["postgres"], "host": "prod"}),
    definition("shop-dns", type_="dns", criteria=[{"app_id": "shop"}], outputs={"host": "shop.example.com"}),
    definition("shop-prod-dns", type_="dns", criteria=[{"app_id": "shop", "env_type": "production"}],
               outputs={"host": "www.shop.example.com"}),
]  # fmt: skip


UNREGISTERED = (
    "no environment is registered, so the type {env_type} of {env} is the caller's word: register environments "
    "(kind: Environment) to make it the catalog's"
)
"""The warning while the seeded catalog registers no environment."""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def trellis(*args: str | Path) -> Result:
    """Run ``trellis ARGS`` as a real process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    done = subprocess.run(
        [sys.executable, "-m", "trellis", *map(str, args)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


def cli(*args: str | Path) -> Result:
    """Run ``trellis ARGS`` through its real entry point in this process."""
    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["trellis", *map(str, args)]
    code: Any = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    return Result(code if isinstance(code, int) else (0 if code is None else 1), out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def no_trellis_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the flags a test passes count, not TRELLIS_* variables of whoever runs the tests."""
    for name in [n for n in os.environ if n.startswith("TRELLIS_")]:
        monkeypatch.delenv(name)


def rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db))
    try:
        return table_rows(con)
    finally:
        con.close()


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file with a policy, postgres and dns definitions; prod-db has a v2 that deprecated v1."""
    path = tmp_path_factory.mktemp("seed") / "seed.duckdb"
    con = duckdb.connect(str(path))
    catalog = Catalog(con)
    apply_docs(catalog, *SEED, actor="seed")
    apply_docs(catalog, definition("prod-db", criteria=[{"env_type": "production"}],
                                   outputs={**OUTPUTS["postgres"], "host": "prod-v2"}), actor="seed")  # fmt: skip
    con.close()
    return path


@pytest.fixture
def db(seeded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "trellis.duckdb"
    shutil.copy(seeded, copy)
    return copy


@pytest.fixture
def score_file(tmp_path: Path) -> Path:
    path = tmp_path / "score.yaml"
    path.write_text(yaml.safe_dump(score("api", {"db": {"type": "postgres"}, "dns": {"type": "dns"}})))
    return path


def test_apply_shows_the_plan_applies_and_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "fresh.duckdb"
    file = write_yaml(tmp_path / "catalog.yaml", *SEED)

    first = cli("resources", "apply", "-f", file, "--db", db)
    again = cli("resources", "apply", "-f", file, "--db", db)

    assert first.returncode == 0, first.stderr
    block = [
        "  created    Policy/ha",
        "  created    ResourceDefinition/dev-db - version 1 is active",
        "  created    ResourceDefinition/prod-db - version 1 is active",
        "             warning: ha: consider HA",
        "  created    ResourceDefinition/shop-dns - version 1 is active",
        "             warning: ha: consider HA",
        "  created    ResourceDefinition/shop-prod-dns - version 1 is active",
        "             warning: ha: consider HA",
    ]
    assert first.stdout.splitlines() == ["plan (database file (no collector running)):", *block, "applied:", *block]
    assert again.returncode == 0
    assert "applied:" not in again.stdout
    assert all(line.startswith("  unchanged") for line in again.stdout.splitlines()[1:] if "warning" not in line)


def test_a_dry_run_changes_nothing(db: Path, tmp_path: Path) -> None:
    before = rows(db)
    file = write_yaml(tmp_path / "c.yaml", definition("dev-db", criteria=[{"env_type": "development"}]))

    result = cli("resources", "apply", "-f", file, "--dry-run", "--db", db)

    assert result.returncode == 0
    assert "proposed   ResourceDefinition/dev-db - version 2 is active" in result.stdout
    assert "applied:" not in result.stdout
    assert rows(db) == before


def test_a_bad_document_exits_1_naming_file_document_and_field_and_changes_nothing(db: Path, tmp_path: Path) -> None:
    before = rows(db)
    file = write_yaml(
        tmp_path / "change.yaml",
        definition("dev-db", criteria=[{"env_type": "development"}], params={"version": "17"}),
        definition("cache", type_="redis", criteria=[{}]),
        definition("tiny", criteria=[{"app_id": "tiny"}], params={"backup_retention_days": -1}),
    )

    result = cli("resources", "apply", "-f", file, "--db", db)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {file} (document 3): field spec.params.backup_retention_days: -1 is less than the minimum of 0"
    )
    assert rows(db) == before


def test_a_document_that_does_not_validate_exits_1_before_touching_the_database(db: Path, tmp_path: Path) -> None:
    before = rows(db)
    file = write_yaml(tmp_path / "typo.yaml", definition("ok", type_="dns"), {**definition("x"), "sepc": {}})

    result = cli("resources", "apply", "-f", file, "--db", db)

    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {file} (document 2): field sepc: Extra inputs are not permitted"
    assert result.stdout == ""
    assert rows(db) == before


def test_export_then_apply_on_a_fresh_database_reproduces_the_catalog(db: Path, tmp_path: Path) -> None:
    exported = tmp_path / "exported"
    fresh = tmp_path / "fresh.duckdb"

    assert cli("resources", "export", exported, "--db", db).stdout.strip() == f"wrote 5 documents to {exported}"
    onto_itself = cli("resources", "apply", "-f", exported, "--db", db)
    onto_fresh = cli("resources", "apply", "-f", exported, "--db", fresh)
    listing = cli("resources", "list", "--db", fresh)
    again = cli("resources", "export", tmp_path / "again", "--db", fresh)

    assert onto_itself.returncode == 0 and "applied:" not in onto_itself.stdout
    assert [line.split()[0] for line in onto_itself.stdout.splitlines()[1:] if "warning" not in line] == [
        "unchanged"
    ] * 5
    assert onto_fresh.returncode == 0, onto_fresh.stderr
    assert [line.split() for line in listing.stdout.splitlines()] == [
        ["dev-db", "postgres", "v1", "active"],
        ["prod-db", "postgres", "v1", "active"],
        ["shop-dns", "dns", "v1", "active"],
        ["shop-prod-dns", "dns", "v1", "active"],
    ]
    assert again.returncode == 0
    assert {p.relative_to(exported): p.read_text() for p in exported.rglob("*.yaml")} == {
        p.relative_to(tmp_path / "again"): p.read_text() for p in (tmp_path / "again").rglob("*.yaml")
    }
    assert "host: prod-v2" in (exported / "definitions" / "prod-db.yaml").read_text()


def test_resolve_json_prints_only_json_and_records_the_bindings(db: Path, score_file: Path) -> None:
    result = trellis("resolve", score_file, "--app", "shop", "--env", "prod-eu", "--env-type", "production", "--json",
                     "--db", db)  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "workload": "api", "app": "shop", "env": "prod-eu",
        "resources": {
            "db": {"type": "postgres", "class": "default", "definition": "prod-db", "version": 2,
                   "outputs": {**OUTPUTS["postgres"], "host": "prod-v2"}},
            "dns": {"type": "dns", "class": "default", "definition": "shop-prod-dns", "version": 1,
                    "outputs": {"host": "www.shop.example.com"}},
        },
        "env_type": "production",
        "warnings": [UNREGISTERED.format(env_type="production", env="prod-eu")],
    }  # fmt: skip
    assert query(db, "SELECT resource, definition_id, version FROM catalog_bindings ORDER BY resource") == [
        ("db", "prod-db", 2),
        ("dns", "shop-prod-dns", 1),
    ]


def test_resolve_prints_a_summary_without_json(db: Path, score_file: Path) -> None:
    result = cli("resolve", score_file, "--app", "shop", "--env", "dev", "--env-type", "development", "--db", db)

    assert result.returncode == 0
    assert result.stdout.splitlines()[:2] == ["api in shop/dev (development):", "  db: postgres/default -> dev-db v1"]
    assert result.stderr == f"warning: {UNREGISTERED.format(env_type='development', env='dev')}\n"
    assert "      host: dev" in result.stdout.splitlines()


def test_a_miss_exits_non_zero_with_the_message_on_stderr_and_is_recorded(db: Path, score_file: Path) -> None:
    result = trellis("resolve", score_file, "--app", "blog", "--env", "stg", "--env-type", "staging", "--json",
                     "--db", db)  # fmt: skip

    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: resource db: no definition of type postgres and class default matches app blog, env stg (staging), "
        "res_id api.db; resource dns: no definition of type dns and class default matches app blog, env stg "
        "(staging), res_id api.dns"
    )
    assert query(db, "SELECT resource, type, class, app, env, env_type FROM catalog_misses ORDER BY resource") == [
        ("db", "postgres", "default", "blog", "stg", "staging"),
        ("dns", "dns", "default", "blog", "stg", "staging"),
    ]


def test_check_exits_0_on_allow_and_1_on_deny_with_the_reasons_on_stderr(db: Path, score_file: Path) -> None:
    allow = trellis("check", score_file, "--app", "shop", "--env", "prod", "--env-type", "production", "--db", db)
    deny = trellis("check", score_file, "--app", "blog", "--env", "dev", "--env-type", "development", "--db", db)

    assert (allow.returncode, allow.stdout) == (0, "allow\n")
    assert allow.stderr.splitlines() == [
        f"warning: {UNREGISTERED.format(env_type='production', env='prod')}",
        "warning: resource db: policy ha: consider HA",
        "warning: resource dns: policy ha: consider HA",
    ]
    assert deny.returncode == 1
    assert deny.stdout == ""
    assert deny.stderr.splitlines()[1:] == [
        "deny",
        "  resource dns: no definition of type dns and class default matches app blog, env dev (development), "
        "res_id api.dns",
    ]


def test_explain_says_who_wins_and_why_others_lose(db: Path) -> None:
    result = cli("explain", "--type", "dns", "--app", "shop", "--env", "prod", "--env-type", "production",
                     "--res-id", "api.dns", "--db", db)  # fmt: skip
    nothing = cli("explain", "--type", "dns", "--class", "large", "--app", "shop", "--env", "prod",
                      "--env-type", "production", "--res-id", "api.dns", "--db", db)  # fmt: skip

    assert result.stdout.splitlines() == [
        "shop-prod-dns wins with rule {class=default, env_type=production, app_id=shop}",
        "shop-dns: rule {class=default, app_id=shop} matches but is less specific",
    ]
    assert nothing.stdout.splitlines()[0] == "no definition of type dns and class large matches"
    assert "shop-dns: no rule matches ({class=default, app_id=shop}: class default is not large)" in nothing.stdout


def test_audit_verify_passes_then_exits_1_naming_an_edited_or_deleted_entry(db: Path) -> None:
    intact = cli("audit", "verify", "--db", db)
    assert intact.returncode == 0
    assert intact.stdout.startswith("audit log intact: 12 entries, head ")
    assert intact.stdout.rstrip().endswith("; the catalog matches it")

    query(db, "UPDATE catalog_audit SET actor = 'mallory' WHERE seq = 2")
    edited = cli("audit", "verify", "--db", db)
    query(db, "DELETE FROM catalog_audit WHERE seq = 2")
    deleted = trellis("audit", "verify", "--db", db)

    assert edited.returncode == 1
    assert edited.stderr == (
        "audit log broken: entry 2 (propose ResourceDefinition/dev-db@1) was changed after it was written\n"
    )
    assert deleted.returncode == 1
    assert deleted.stderr == "audit log broken: entry 2 is missing (next is 3)\n"


def test_audit_verify_exits_1_naming_a_table_changed_behind_the_log(db: Path) -> None:
    query(db, "UPDATE catalog_versions SET state = 'active' WHERE definition_id = 'prod-db' AND version = 1")

    result = cli("audit", "verify", "--db", db)

    assert result.returncode == 1
    assert result.stderr == (
        "catalog differs from its audit log: version 1 of prod-db is active but the log says deprecated; "
        "prod-db has 2 active versions ([1, 2])\n"
    )


def test_audit_log_lists_the_latest_entries_newest_first(db: Path) -> None:
    result = cli("audit", "log", "--limit", "3", "--db", db)

    lines = [line.split() for line in result.stdout.splitlines()]
    assert [(line[0], line[-3], line[-2], line[-1]) for line in lines] == [
        ("12", "trellis", "activate", "ResourceDefinition/prod-db@2"),
        ("11", "trellis", "deprecate", "ResourceDefinition/prod-db@1"),
        ("10", "seed", "propose", "ResourceDefinition/prod-db@2"),
    ]


def test_approvals_through_the_cli_use_the_identity_from_the_tokens_file(db: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": [
        {"name": "alice", "token": "tok-alice-cli-123456", "scopes": ["approve"], "groups": ["platform-admins"]},
        {"name": "ops", "token": "tok-ops-cli-1234567", "scopes": ["admin"]},
    ]}))  # fmt: skip
    change = write_yaml(
        tmp_path / "change.yaml",
        production_approval_rule(approvals=1),
        definition("prod-db", criteria=[{"env_type": "production"}], outputs={**OUTPUTS["postgres"], "host": "v3"}),
    )
    applied = cli("resources", "apply", "-f", change, "--db", db, "--tokens-file", tokens, "--token",
                      "tok-ops-cli-1234567")  # fmt: skip
    assert "version 3 awaits approval: production-changes needs 1 more from platform-admins" in applied.stdout

    alice = ("--db", db, "--tokens-file", tokens, "--token", "tok-alice-cli-123456")
    pending = cli("resources", "pending", "--db", db)
    unknown = cli("resources", "approve", "prod-db", "3", "--db", db, "--tokens-file", tokens, "--token", "nope")
    unattended = cli("resources", "approve", "prod-db", "3", *alice)
    other_content = cli("resources", "approve", "prod-db", "3", *alice, "--content-hash", "0000")
    approved = cli("resources", "approve", "prod-db", "3", *alice, "--yes")
    listing = cli("resources", "list", "--db", db)

    (waiting,) = json.loads(pending.stdout)
    assert (waiting["definition"], waiting["version"], waiting["proposed_by"]) == ("prod-db", 3, "ops")
    assert waiting["diff"] == {"outputs": {"before": {**OUTPUTS["postgres"], "host": "prod-v2"},
                                           "after": {**OUTPUTS["postgres"], "host": "v3"}}}  # fmt: skip
    assert waiting["fields"] == [{"field": "outputs.host", "before": "prod-v2", "after": "v3"}]
    assert waiting["impact"]["consumers"] == 0
    assert (unknown.returncode, unknown.stderr) == (1, "error: the token is not in the tokens file\n")
    assert (unattended.returncode, unattended.stderr) == (
        1, "error: approving without a terminal needs --yes, or --content-hash with the content you reviewed\n"
    )  # fmt: skip
    assert other_content.returncode == 1 and "not the one you reviewed" in other_content.stderr
    assert approved.returncode == 0
    assert approved.stdout.splitlines() == [
        f"prod-db version 3, proposed by ops, content {waiting['content_hash'][:12]}",
        "  outputs.host: 'prod-v2' -> 'v3'",
        "no consumer's binding changes",
        "version 3 is active",
    ]
    assert "prod-db                          postgres     v1 deprecated, v2 deprecated, v3 active" in listing.stdout
    actors = query(db, "SELECT actor, action FROM catalog_audit WHERE object = 'ResourceDefinition/prod-db@3'")
    assert actors == [("ops", "propose"), ("alice", "approve"), ("trellis", "activate")]


def test_deprecate_archive_and_the_gate_on_a_pinned_consumer(db: Path, score_file: Path, tmp_path: Path) -> None:
    far = datetime.now(UTC) + timedelta(days=365)
    write_yaml(tmp_path / "pin.yaml", pin("hold", "prod-db", 1, far, workload="api", app="shop", env="prod"))
    assert cli("resources", "apply", "-f", tmp_path / "pin.yaml", "--db", db).returncode == 0
    check = ("check", score_file, "--app", "shop", "--env", "prod", "--env-type", "production", "--db", db)

    past = cli("resources", "deprecate", "prod-db", "1", "--deadline", "2020-01-01", "--db", db)
    past_deadline = cli(*check)
    archived = cli("resources", "archive", "prod-db", "1", "--db", db)
    on_archived = cli(*check)
    active = cli("resources", "archive", "prod-db", "2", "--db", db)

    assert (past.returncode, past.stdout) == (0, "version 1 of prod-db is deprecated until 2020-01-01\n")
    assert past_deadline.returncode == 1
    assert (
        "  resource db: prod-db version 1 is deprecated and its deadline 2020-01-01 has passed" in past_deadline.stderr
    )
    assert (archived.returncode, archived.stdout) == (0, "version 1 of prod-db is archived\n")
    assert on_archived.returncode == 1
    assert "  resource db: prod-db version 1 is archived" in on_archived.stderr
    assert active.returncode == 1
    assert active.stderr == "error: version 2 of prod-db is active; deprecate it first\n"


def test_plan_and_convergence(db: Path, score_file: Path, tmp_path: Path) -> None:
    for env in ("prod", "prod-eu"):
        cli("resolve", score_file, "--app", "shop", "--env", env, "--env-type", "production", "--db", db)
    change = write_yaml(
        tmp_path / "change.yaml",
        definition("prod-db", criteria=[{"env_type": "production"}], outputs={**OUTPUTS["postgres"], "host": "v3"}),
        definition("eu-db", criteria=[{"env_id": "prod-eu"}]),
    )

    planned = cli("resources", "plan", "-f", change, "--db", db)
    converged = cli("resources", "convergence", "prod-db", "--db", db)

    assert planned.stdout.splitlines() == [
        "2 consumers in 1 app and 2 environments change at their next deployment, 1 of them to another "
        "definition or to none",
        "  shop/prod/api.db: prod-db@2 changes: outputs host: 'prod-v2' -> 'v3'",
        "  shop/prod-eu/api.db: moves from prod-db@2 to eu-db (proposed)",
    ]
    assert converged.stdout.splitlines() == [
        "prod-db: active v2, 2/2 consumers on it (100%)",
        "  shop/prod/api.db: v2",
        "  shop/prod-eu/api.db: v2",
    ]


# through a running collector --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tokens_file: Path) -> Iterator[RunningCollector]:
    folder = tmp_path_factory.mktemp("cli-api")
    running = start_collector(
        folder / "trellis.duckdb", "--tokens-file", str(tokens_file),
        headers={"Authorization": f"Bearer {TOKENS['admin'][0]}"},
    )  # fmt: skip
    yield running
    running.stop()


def test_the_commands_talk_to_a_running_collector(served: RunningCollector, tmp_path: Path, score_file: Path) -> None:
    file = write_yaml(tmp_path / "catalog.yaml", *SEED)
    admin = ("--api", served.api, "--token", TOKENS["admin"][0])
    reader = ("--api", served.api, "--token", TOKENS["reader"][0])
    deployer = ("--api", served.api, "--token", TOKENS["deployer"][0])

    refused = cli("resources", "apply", "-f", file, *reader)
    applied = trellis("resources", "apply", "-f", file, *admin)
    resolved = cli("resolve", score_file, "--app", "shop", "--env", "dev", "--env-type", "development", "--json",
                       *deployer)  # fmt: skip
    missed = cli("resolve", score_file, "--app", "blog", "--env", "x", "--env-type", "staging", "--json", *deployer)
    checked = cli("check", score_file, "--app", "shop", "--env", "prod", "--env-type", "production", *reader)
    verified = cli("audit", "verify", *reader)

    assert refused.returncode == 1
    assert refused.stderr == "error: 403: token 'reader' lacks the 'propose' scope\n"
    assert applied.returncode == 0 and applied.stdout.startswith(f"plan (collector at {served.api}):")
    assert "applied:" in applied.stdout
    assert json.loads(resolved.stdout)["resources"]["db"]["definition"] == "dev-db"
    assert missed.returncode == 1 and missed.stdout == ""
    assert missed.stderr.startswith("error: 400: resource db: no definition of type postgres and class default")
    assert (checked.returncode, checked.stdout) == (0, "allow\n")
    assert verified.stdout.startswith("audit log intact: 9 entries, head ")
    assert served.process.poll() is None


def test_an_error_in_a_folder_names_the_file_and_its_own_document_number(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    write_yaml(folder / "a.yaml", definition("fine-db", criteria=[{"env_type": "staging"}]))
    write_yaml(folder / "b.yaml", definition("broken", type_="no-such-type"))

    result = cli("resources", "apply", "-f", folder, "--db", tmp_path / "t.duckdb")

    assert result.returncode == 1
    assert f"{folder / 'b.yaml'} (document 1)" in result.stderr
    assert "no-such-type" in result.stderr
