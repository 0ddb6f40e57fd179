"""Importing `terraform show -json` output as legacy definitions, against a real DuckDB catalog."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from trellis.catalog.documents import Source
from trellis.catalog.importers import ImportConflictError
from trellis.catalog.importers.terraform import (
    TerraformStateError,
    definition_id,
    import_terraform,
    parse_terraform,
    read_terraform,
)
from trellis.catalog.matching import Context
from trellis.catalog.models import ID_PATTERN, Criterion, ResourceDefinition
from trellis.catalog.service import Catalog, CatalogError

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "sample_data" / "terraform" / "legacy.tfstate.json"

EXPECTED_TYPES = {
    "aws_db_instance.orders": "postgres",
    "aws_db_instance.inventory": "postgres",
    "aws_db_instance.wordpress": "mysql",
    "aws_elasticache_cluster.sessions": "redis",
    "aws_elasticache_replication_group.cart": "redis",
    "aws_s3_bucket.assets": "s3",
    "aws_s3_bucket.uploads": "s3",
    "aws_s3_bucket.logs[0]": "s3",
    "aws_route53_record.api": "dns",
    "aws_route53_record.www": "dns",
    "aws_msk_cluster.events": "kafka-topic",
    "module.billing.aws_db_instance.ledger": "postgres",
    "module.billing.aws_s3_bucket.invoices": "s3",
    "module.billing.module.cache.aws_elasticache_replication_group.this": "redis",
    'module.billing.module.cache.aws_route53_record.this["billing-cache"]': "dns",
}

EXPECTED_SKIPPED = {
    "aws_db_instance.reporting": "engine sqlserver-se is neither postgres nor mysql",
    "aws_elasticache_cluster.page_cache": "engine memcached is not redis",
    "aws_elasticache_cluster.cart_replica": "member of replication group shop-cart",
    "aws_s3_bucket_versioning.uploads": "no catalog type for aws_s3_bucket_versioning",
    "aws_route53_record.spf": "record type TXT does not name a host",
    "aws_iam_role.app": "no catalog type for aws_iam_role",
    "aws_security_group.db": "no catalog type for aws_security_group",
    "aws_secretsmanager_secret_version.orders_db": "no catalog type for aws_secretsmanager_secret_version",
    "data.aws_caller_identity.current": "data source",
    "data.aws_route53_zone.shop": "data source",
    "module.billing.aws_msk_cluster.audit": "tag it trellis:topic=<topic>",
    "module.billing.random_password.ledger": "no catalog type for random_password",
}


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(duckdb.connect(), now=lambda: datetime(2025, 3, 1, 12, 0, tzinfo=UTC))


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Every row of every catalog table, as text."""
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'catalog%' ORDER BY 1"
        ).fetchall()
    ]
    assert "catalog_versions" in tables and "catalog_audit" in tables
    return {t: sorted(repr(row) for row in con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables}


def catalog_text(con: duckdb.DuckDBPyConnection) -> str:
    return "\n".join(line for rows in snapshot(con).values() for line in rows)


def sample_state() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


def by_address(definitions: list[ResourceDefinition]) -> dict[str, ResourceDefinition]:
    return {d.spec.provenance["address"]: d for d in definitions if d.spec.provenance}


def sensitive_values(state: Any, key: str = "") -> set[str]:
    """Every secret the sample state holds: passwords, tokens, secret strings, sensitive outputs."""
    found: set[str] = set()
    if isinstance(state, dict):
        if state.get("sensitive") is True and isinstance(state.get("value"), str):
            found.add(state["value"])
        for k, v in state.items():
            found |= sensitive_values(v, k)
    elif isinstance(state, list):
        for v in state:
            found |= sensitive_values(v, key)
    elif isinstance(state, str) and state and key in ("password", "auth_token", "secret_string", "result"):
        found.add(state)
        if key == "secret_string":
            found.add(json.loads(state)["password"])
    return found


def write_state(tmp_path: Path, state: Any, name: str = "state.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(state))
    return path


# mapping ---------------------------------------------------------------------------
def test_sample_state_maps_known_resources_to_static_legacy_definitions() -> None:
    result = read_terraform(SAMPLE)
    found = by_address(result.definitions)
    assert {address: d.spec.type for address, d in found.items()} == EXPECTED_TYPES
    for address, document in found.items():
        assert document.kind == "ResourceDefinition"
        assert document.spec.driver == "static"
        assert document.spec.legacy is True
        assert document.spec.criteria == []
        assert document.spec.provenance == {"source": "terraform", "file": str(SAMPLE), "address": address}
        assert document.metadata.id == definition_id(address)
        assert re.match(ID_PATTERN, document.metadata.id)
    assert len({d.metadata.id for d in result.definitions}) == len(result.definitions)


def test_outputs_are_read_from_the_resource_attributes() -> None:
    found = by_address(read_terraform(SAMPLE).definitions)
    assert found["aws_db_instance.orders"].spec.outputs == {
        "host": "orders-prod.c9akciq32lmx.eu-west-1.rds.amazonaws.com",
        "port": 5432,
        "name": "orders",
        "username": "orders_admin",
        "password": "${secret:legacy/terraform/aws_db_instance.orders#password}",
    }
    wordpress = found["aws_db_instance.wordpress"].spec.outputs
    assert (wordpress["host"], wordpress["port"], wordpress["name"], wordpress["username"]) == (
        "blog-wordpress.c9akciq32lmx.eu-west-1.rds.amazonaws.com",
        3306,
        "wordpress",
        "wp_admin",
    )
    sessions = found["aws_elasticache_cluster.sessions"].spec.outputs
    assert (sessions["host"], sessions["port"]) == ("shop-sessions.x1k2bq.0001.euw1.cache.amazonaws.com", 6379)
    cart = found["aws_elasticache_replication_group.cart"].spec.outputs
    assert cart["host"] == "master.shop-cart.x1k2bq.euw1.cache.amazonaws.com"
    cluster_mode = found["module.billing.module.cache.aws_elasticache_replication_group.this"].spec.outputs
    assert cluster_mode["host"] == "billing-cache.x1k2bq.clustercfg.euw1.cache.amazonaws.com"  # no primary endpoint
    assert found["module.billing.aws_s3_bucket.invoices"].spec.outputs == {
        "bucket": "acme-billing-invoices",
        "region": "eu-central-1",
        "endpoint": "https://acme-billing-invoices.s3.eu-central-1.amazonaws.com",
        "aws_access_key_id": "${secret:legacy/terraform/module.billing.aws_s3_bucket.invoices#aws_access_key_id}",
        "aws_secret_access_key": (
            "${secret:legacy/terraform/module.billing.aws_s3_bucket.invoices#aws_secret_access_key}"
        ),
    }
    assert found["aws_route53_record.www"].spec.outputs == {"host": "www.shop.example.com"}
    events = found["aws_msk_cluster.events"].spec.outputs
    assert events["topic"] == "orders.events"
    assert events["brokers"].split(",")[0] == "b-1.shop-events.k3x9qa.c4.kafka.eu-west-1.amazonaws.com:9094"
    assert events["password"] == "${secret:legacy/terraform/aws_msk_cluster.events#password}"
    logs = found["aws_s3_bucket.logs[0]"].spec.outputs
    assert logs["aws_secret_access_key"] == "${secret:legacy/terraform/aws_s3_bucket.logs.0#aws_secret_access_key}"


def test_params_are_set_where_the_type_schema_has_them() -> None:
    found = by_address(read_terraform(SAMPLE).definitions)
    assert found["aws_db_instance.orders"].spec.params == {
        "version": "14.10",
        "backup_retention_days": 7,
        "size": "db.r5.large",
        "high_availability": True,
    }
    assert found["aws_db_instance.inventory"].spec.params["version"] == "11.22"  # engine_version_actual wins
    assert "high_availability" not in found["aws_db_instance.wordpress"].spec.params  # not in the mysql schema
    assert found["aws_s3_bucket.assets"].spec.params == {"region": "eu-west-1", "versioning": True, "public": True}
    assert found["aws_s3_bucket.uploads"].spec.params == {"region": "eu-west-1", "versioning": False, "public": False}
    assert found["aws_route53_record.www"].spec.params == {"record_type": "CNAME", "ttl": 300}
    assert found["aws_route53_record.api"].spec.params == {"record_type": "A"}  # an alias has no ttl
    assert found["aws_elasticache_replication_group.cart"].spec.params == {"version": "7.0.7"}


def test_everything_else_is_skipped_with_the_reason() -> None:
    result = read_terraform(SAMPLE)
    skipped = dict(result.skipped)
    assert set(skipped) == set(EXPECTED_SKIPPED)
    for address, reason in EXPECTED_SKIPPED.items():
        assert reason in skipped[address], (address, skipped[address])
    assert len(result.skipped) + len(result.definitions) == len(EXPECTED_SKIPPED) + len(EXPECTED_TYPES)


# ids ---------------------------------------------------------------------------------
ADDRESSES = [
    "aws_s3_bucket.assets",
    "aws_s3_bucket.a_b",
    "aws_s3_bucket.a-b",
    "aws_s3_bucket.A_b",
    "aws_s3_bucket.a[0]",
    'aws_s3_bucket.a["0"]',
    'aws_s3_bucket.a["Zürich / HQ"]',
    "module.a.module.b.module.c.aws_elasticache_replication_group.a_name_that_is_long_enough_to_truncate_the_id",
    "module.x_" + "y" * 120 + ".aws_db_instance.z",
    "module.x_" + "y" * 120 + ".aws_db_instance.w",
]


def test_ids_are_valid_deterministic_and_distinct() -> None:
    ids = [definition_id(a) for a in ADDRESSES]
    assert ids == [definition_id(a) for a in ADDRESSES]
    assert len(set(ids)) == len(ids)
    for value in ids + [definition_id(a, "prod-eu") for a in ADDRESSES]:
        assert len(value) <= 63 and re.match(ID_PATTERN, value), value
    assert (
        definition_id("aws_s3_bucket.assets") == "tf-aws-s3-bucket.assets-" + definition_id("aws_s3_bucket.assets")[-8:]
    )
    assert definition_id("aws_s3_bucket.assets", "prod") != definition_id("aws_s3_bucket.assets")


# secrets -----------------------------------------------------------------------------
def test_secret_values_never_reach_the_catalog(catalog: Catalog) -> None:
    secrets = sensitive_values(sample_state())
    assert "pg-Orders!2019-Xk7#qLw2" in secrets and "cart-auth-token-5b1f0e9d7c3a2f84e6d1" in secrets
    assert len(secrets) >= 7
    report = import_terraform(catalog, SAMPLE, "alice")
    text = catalog_text(catalog.con)
    assert "orders-prod.c9akciq32lmx.eu-west-1.rds.amazonaws.com" in text  # the scan sees the imported rows
    exported = json.dumps(report.as_dict()) + json.dumps(read_terraform(SAMPLE).as_dict())
    for secret in secrets:
        for form in (secret, json.dumps(secret)[1:-1]):
            assert form not in text, "a secret from the state is in the catalog"
            assert form not in exported, "a secret from the state is in the import report"


def test_every_secret_output_is_a_reference_derived_from_the_address() -> None:
    for document in read_terraform(SAMPLE).definitions:
        address = document.spec.provenance["address"] if document.spec.provenance else ""
        for name in ("password", "aws_secret_access_key"):
            if name in document.spec.outputs:
                value = document.spec.outputs[name]
                assert value.startswith("${secret:legacy/terraform/") and value.endswith(f"#{name}}}"), value
                assert address.split("[")[0] in value


def test_a_resource_whose_output_would_hold_a_sensitive_value_is_skipped() -> None:
    state = sample_state()
    orders = state["values"]["root_module"]["resources"][0]
    assert orders["address"] == "aws_db_instance.orders"
    orders["sensitive_values"]["username"] = True
    orders["values"]["username"] = "admin-Secret-Name-77"
    result = parse_terraform(state, "state.json")
    reason = dict(result.skipped)["aws_db_instance.orders"]
    assert "output username" in reason and "sensitive" in reason
    assert "admin-Secret-Name-77" not in json.dumps(result.as_dict())


def test_a_password_that_equals_a_chosen_attribute_is_not_imported() -> None:
    state = sample_state()
    ledger = state["values"]["root_module"]["child_modules"][0]["resources"][0]
    ledger["values"]["password"] = ledger["values"]["db_name"] + "-2024!"
    ledger["values"]["db_name"] = ledger["values"]["password"]
    result = parse_terraform(state, "state.json")
    assert "sensitive" in dict(result.skipped)["module.billing.aws_db_instance.ledger"]


# applying ----------------------------------------------------------------------------
def test_import_creates_active_legacy_definitions(catalog: Catalog) -> None:
    report = import_terraform(catalog, SAMPLE, "alice")
    assert [c.action for c in report.changes] == ["created"] * len(EXPECTED_TYPES)
    assert all(c.detail == "version 1 is active" for c in report.changes)
    assert dict(report.skipped) == dict(read_terraform(SAMPLE).skipped)
    orders = catalog.active(definition_id("aws_db_instance.orders"))
    assert orders is not None and orders.spec.legacy and orders.proposed_by == "alice"
    legacy = catalog.con.execute("SELECT count(*) FROM catalog_definitions WHERE legacy").fetchall()[0][0]
    assert legacy == len(EXPECTED_TYPES)


def test_importing_twice_changes_nothing(catalog: Catalog) -> None:
    import_terraform(catalog, SAMPLE, "alice")
    before = snapshot(catalog.con)
    again = import_terraform(catalog, SAMPLE, "bob")
    assert {c.action for c in again.changes} == {"unchanged"}
    assert len(again.changes) == len(EXPECTED_TYPES)
    assert snapshot(catalog.con) == before


def test_dry_run_reports_the_plan_and_changes_nothing(catalog: Catalog) -> None:
    before = snapshot(catalog.con)
    report = import_terraform(catalog, SAMPLE, "alice", dry_run=True)
    assert report.dry_run and [c.action for c in report.changes] == ["created"] * len(EXPECTED_TYPES)
    assert snapshot(catalog.con) == before
    assert {c.action for c in import_terraform(catalog, SAMPLE, "alice").changes} == {"created"}


def test_a_changed_attribute_proposes_a_new_version(catalog: Catalog, tmp_path: Path) -> None:
    state = sample_state()
    path = write_state(tmp_path, state)
    import_terraform(catalog, path, "alice")
    state["values"]["root_module"]["resources"][0]["values"]["address"] = "orders-new.example.internal"
    path.write_text(json.dumps(state))
    report = import_terraform(catalog, path, "alice")
    changed = {c.id: c for c in report.changes if c.action != "unchanged"}
    orders_id = definition_id("aws_db_instance.orders")
    assert list(changed) == [orders_id] and changed[orders_id].action == "proposed"
    active = catalog.active(orders_id)
    assert active is not None and active.version == 2 and active.spec.outputs["host"] == "orders-new.example.internal"


def test_resources_gone_from_the_state_are_reported_not_removed(catalog: Catalog, tmp_path: Path) -> None:
    state = sample_state()
    path = write_state(tmp_path, state)
    import_terraform(catalog, path, "alice")
    resources = state["values"]["root_module"]["resources"]
    resources[:] = [r for r in resources if r["address"] != "aws_route53_record.www"]
    path.write_text(json.dumps(state))
    report = import_terraform(catalog, path, "alice")
    www = definition_id("aws_route53_record.www")
    assert report.vanished == [www]
    assert catalog.active(www) is not None


# criteria ----------------------------------------------------------------------------
def test_criteria_can_be_given_by_address(catalog: Catalog) -> None:
    criteria = {"aws_db_instance.orders": [{"env_type": "production", "app_id": "shop"}]}
    report = import_terraform(catalog, SAMPLE, "alice", criteria=criteria)
    orders_id = definition_id("aws_db_instance.orders")
    orders = next(d for d in report.definitions if d.metadata.id == orders_id)
    assert [c.key() for c in orders.spec.criteria] == [("default", "production", "shop", None, None)]
    ctx = Context(app_id="shop", env_id="prod-1", env_type="production", res_id="checkout.db")
    winner = catalog.explain("postgres", "default", ctx).winner
    assert winner is not None and winner.definition_id == orders_id
    assert catalog.explain("postgres", "default", Context("blog", "prod-1", "production", "x.db")).winner is None


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"aws_db_instance.nope": [{}]}, "criteria are given for aws_db_instance.nope, which is not in the state"),
        ({"aws_iam_role.app": [{}]}, "aws_iam_role.app, which is skipped: no catalog type for aws_iam_role"),
        ({"aws_db_instance.orders": [{"env": "prod"}]}, "criteria for aws_db_instance.orders, rule 1: field env:"),
        ({"aws_db_instance.orders": {"env_type": "prod"}}, "must be a list of rules"),
    ],
)
def test_bad_criteria_are_refused(catalog: Catalog, criteria: Any, message: str) -> None:
    with pytest.raises(TerraformStateError, match=re.escape(message)):
        import_terraform(catalog, SAMPLE, "alice", criteria=criteria)
    assert catalog.con.execute("SELECT count(*) FROM catalog_definitions").fetchall() == [(0,)]


def test_criteria_added_in_the_catalog_survive_a_reimport(catalog: Catalog) -> None:
    report = import_terraform(catalog, SAMPLE, "alice")
    orders_id = definition_id("aws_db_instance.orders")
    document = next(d for d in report.definitions if d.metadata.id == orders_id)
    rules = [Criterion(env_type="production", app_id="shop")]
    with_criteria = document.model_copy(update={"spec": document.spec.model_copy(update={"criteria": rules})})
    assert catalog.apply([(with_criteria, Source("platform.yaml", 0))], "platform-team")[0].action == "proposed"
    before = snapshot(catalog.con)
    again = import_terraform(catalog, SAMPLE, "alice")
    assert {c.action for c in again.changes} == {"unchanged"}
    assert snapshot(catalog.con) == before
    active = catalog.active(orders_id)
    assert active is not None and [c.app_id for c in active.spec.criteria] == ["shop"]


def test_clashing_criteria_are_refused_by_the_catalog_and_change_nothing(catalog: Catalog) -> None:
    rule = [{"env_type": "production"}]
    criteria = {"aws_db_instance.orders": rule, "aws_db_instance.inventory": rule}
    with pytest.raises(CatalogError, match=r"aws_db_instance\.(orders|inventory)\).*both could win"):
        import_terraform(catalog, SAMPLE, "alice", criteria=criteria)
    assert catalog.con.execute("SELECT count(*) FROM catalog_versions").fetchall() == [(0,)]


# conflicts and namespaces --------------------------------------------------------------
def test_an_existing_definition_from_elsewhere_is_not_taken_over(catalog: Catalog) -> None:
    orders_id = definition_id("aws_db_instance.orders")
    handwritten = ResourceDefinition.model_validate(
        {
            "apiVersion": "trellis/v1",
            "kind": "ResourceDefinition",
            "metadata": {"id": orders_id},
            "spec": {
                "type": "postgres",
                "driver": "static",
                "outputs": {
                    "host": "db.example.com",
                    "port": 5432,
                    "name": "orders",
                    "username": "app",
                    "password": "${secret:db/orders#password}",
                },
            },
        }
    )
    catalog.apply([(handwritten, Source("handwritten.yaml", 0))], "bob")
    before = snapshot(catalog.con)
    with pytest.raises(ImportConflictError, match=f"{orders_id} already exists and was not imported") as caught:
        import_terraform(catalog, SAMPLE, "alice")
    assert caught.value.status == 409 and str(SAMPLE) in str(caught.value)
    assert snapshot(catalog.con) == before


def test_a_namespace_keeps_two_states_with_the_same_addresses_apart(catalog: Catalog) -> None:
    prod = import_terraform(catalog, SAMPLE, "alice", namespace="prod")
    staging = import_terraform(catalog, SAMPLE, "alice", namespace="staging")
    assert {c.action for c in prod.changes} == {c.action for c in staging.changes} == {"created"}
    orders = next(d for d in staging.definitions if d.spec.provenance and "orders" in d.spec.provenance["address"])
    assert orders.metadata.id == definition_id("aws_db_instance.orders", "staging")
    assert orders.metadata.id.startswith("tf-staging-")
    assert orders.spec.provenance == {
        "source": "terraform",
        "file": str(SAMPLE),
        "address": "aws_db_instance.orders",
        "namespace": "staging",
    }
    assert orders.spec.outputs["password"] == "${secret:legacy/terraform/staging/aws_db_instance.orders#password}"
    assert catalog.con.execute("SELECT count(*) FROM catalog_definitions").fetchall() == [(2 * len(EXPECTED_TYPES),)]
    with pytest.raises(TerraformStateError, match="namespace 'Prod EU' must be"):
        read_terraform(SAMPLE, namespace="Prod EU")


# bad input -----------------------------------------------------------------------------
RESOURCE = {"address": "aws_s3_bucket.a", "mode": "managed", "type": "aws_s3_bucket", "name": "a", "values": {}}

BAD_FILES = [
    ("{not json", "is not JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
    ("", "is empty; expected the output of `terraform show -json`"),
    ("[]", "the top level is a list, not an object"),
    ('{"version": 4, "terraform_version": "1.5.7", "serial": 3, "resources": []}', "is a raw state file"),
    ('{"format_version": "1.2", "planned_values": {}, "resource_changes": []}', "is a plan"),
    ('{"format_version": "1.0"}', "has no values: the state holds no resources"),
    ('{"hello": "world"}', "has neither format_version nor values"),
    ('{"values": {"root_module": {}}}', "has no format_version"),
    ('{"format_version": "2.0", "values": {"root_module": {}}}', "format_version 2.0 is not supported"),
    ('{"format_version": "1.0", "values": {}}', "values.root_module: is missing"),
    ('{"format_version": "1.0", "values": {"root_module": {"resources": {}}}}', "root_module.resources: is an object"),
    (
        json.dumps({"format_version": "1.0", "values": {"root_module": {"resources": [{**RESOURCE, "address": ""}]}}}),
        "values.root_module.resources[0]: has no address",
    ),
    (
        json.dumps(
            {
                "format_version": "1.0",
                "values": {"root_module": {"child_modules": [{"resources": [{**RESOURCE, "values": None}]}]}},
            }
        ),
        "values.root_module.child_modules[0].resources[0] (aws_s3_bucket.a): has no values object",
    ),
    (
        json.dumps({"format_version": "1.0", "values": {"root_module": {"resources": [RESOURCE, RESOURCE]}}}),
        "address aws_s3_bucket.a appears twice (also at values.root_module.resources[0])",
    ),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_bad_files_give_clear_errors_and_change_nothing(
    catalog: Catalog, tmp_path: Path, content: str, message: str
) -> None:
    import_terraform(catalog, SAMPLE, "alice")
    before = snapshot(catalog.con)
    path = write_state(tmp_path, None)
    path.write_text(content)
    with pytest.raises(TerraformStateError) as caught:
        import_terraform(catalog, path, "alice")
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(str(path)), str(caught.value)
    assert message in str(caught.value)
    assert snapshot(catalog.con) == before


def test_a_missing_file_or_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(TerraformStateError, match=re.escape(f"{tmp_path / 'nope.json'}: no such file")):
        read_terraform(tmp_path / "nope.json")
    with pytest.raises(TerraformStateError, match="is a folder"):
        read_terraform(tmp_path)
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TerraformStateError, match=r"binary\.json: is not"):
        read_terraform(tmp_path / "binary.json")
