"""The dashboard's plain parts: drafts and documents, filters and the URL, error messages, the CLI."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trellis.catalog.builtin_types import BUILTIN_TYPES
from trellis.dashboard import editor, reports
from trellis.dashboard.cli import dashboard_env, streamlit_command
from trellis.dashboard.filters import Filters, from_params, to_params
from trellis.dashboard.source import DashboardError, Source, locate, readable
from trellis.dashboard.ui import otlp_endpoint

DEFINITION = {
    "id": "pg-prod", "type": "postgres", "description": "Production", "legacy": False,
    "versions": [
        {"version": 1, "state": "deprecated", "spec": {"type": "postgres", "driver": "static"}},
        {"version": 2, "state": "active", "spec": {
            "type": "postgres", "driver": "static", "params": {"size": "medium"},
            "outputs": {"host": "db", "port": 5432, "name": "app", "username": "app",
                        "password": "${secret:vault/db#password}"},
            "criteria": [{"class": "default", "env_type": "production", "app_id": None, "env_id": None,
                          "res_id": None}]}},
        {"version": 3, "state": "withdrawn", "spec": {"type": "postgres", "driver": "static"}},
    ],
}  # fmt: skip


def test_a_draft_starts_from_the_live_version_and_proposes_after_the_latest() -> None:
    draft = editor.draft_from(DEFINITION)
    assert (draft.id, draft.description, draft.params) == ("pg-prod", "Production", "size: medium")
    assert {"name": "port", "value": "5432"} in draft.outputs
    assert editor.base_version(DEFINITION) == 3
    document = editor.document_from(draft)
    model = editor.check(document, BUILTIN_TYPES)
    assert model.spec.criteria[0].env_type == "production" and model.spec.outputs["port"] == 5432
    assert editor.payload(model)["spec"]["criteria"] == [{"class": "default", "env_type": "production"}]
    assert editor.payload(model)["spec"]["outputs"] == DEFINITION["versions"][1]["spec"]["outputs"]  # type: ignore[index]


def test_blank_cells_mean_any_and_a_new_draft_lists_the_type_outputs() -> None:
    draft = editor.new_draft("redis", BUILTIN_TYPES)
    assert [row["name"] for row in draft.outputs] == ["host", "port", "password"]
    assert draft.outputs[2]["value"].startswith("${secret:")
    draft.id = "cache"
    secret = "${secret:v/r#p}"
    draft.outputs = [{"name": "host", "value": "r"}, {"name": "port", "value": "6379"},
                     {"name": "password", "value": secret}, {"name": None, "value": float("nan")}]  # fmt: skip
    draft.criteria = [{"class": "", "env_type": float("nan"), "app_id": "shop", "env_id": None, "res_id": "  "}]
    document = editor.document_from(draft)
    assert document["spec"]["criteria"] == [{"app_id": "shop"}]
    assert list(document["spec"]["outputs"]) == ["host", "port", "password"]
    editor.check(document, BUILTIN_TYPES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"params": "size: [unclosed"}, "spec.params: not valid YAML"),
        ({"params": "- a list"}, "spec.params: give a mapping"),
        ({"id": "Not An Id"}, "metadata.id"),
        ({"driver": "magic"}, "spec.driver"),
    ],
)
def test_the_editor_names_what_is_wrong(change: dict[str, str], message: str) -> None:
    draft = editor.draft_from(DEFINITION)
    for key, value in change.items():
        setattr(draft, key, value)
    with pytest.raises(editor.EditError, match=message):
        editor.check(editor.document_from(draft), BUILTIN_TYPES)


def test_yaml_documents_round_trip_and_only_definitions_are_edited() -> None:
    document = editor.document_from(editor.draft_from(DEFINITION))
    assert editor.document_from_yaml(editor.to_yaml(document)) == document
    with pytest.raises(editor.EditError, match="not valid YAML"):
        editor.document_from_yaml("a: [")
    pin = {"apiVersion": "trellis/v1", "kind": "Pin", "metadata": {"id": "p"},
           "spec": {"app": "a", "env": "e", "workload": "w", "resource": "r", "definition": "d", "version": 1,
                    "reason": "x", "owner": "o", "expires": "2030-01-01T00:00:00Z"}}  # fmt: skip
    with pytest.raises(editor.EditError, match="only ResourceDefinition"):
        editor.check(pin, BUILTIN_TYPES)


def test_declared_types_join_the_built_in_ones() -> None:
    exported = [{"kind": "ResourceType", "metadata": {"id": "opensearch"},
                 "spec": {"params_schema": {"type": "object"}, "outputs": {"url": {}}}}]  # fmt: skip
    types = editor.resource_types(exported)
    assert "opensearch" in types and "postgres" in types


def test_filters_come_from_and_go_to_the_url() -> None:
    today = date(2026, 3, 10)
    key, start, end, teams, envs = from_params({}, today)
    assert (key, start, end, teams, envs) == ("30d", date(2026, 2, 9), today, [], [])
    key, start, end, teams, envs = from_params({"from": "2026-01-01", "to": "2026-01-31", "team": "a,b"}, today)
    assert (key, start, end, teams) == ("custom", date(2026, 1, 1), date(2026, 1, 31), ["a", "b"])
    assert from_params({"range": "bogus", "from": "2026-02-01", "to": "2026-01-01"}, today)[0] == "30d"
    filters = Filters(date(2026, 1, 1), date(2026, 1, 31), ("a", "b"), ("prod",))
    assert to_params(filters, "custom") == {"from": "2026-01-01", "to": "2026-01-31", "team": "a,b", "env": "prod"}
    assert to_params(Filters(date(2026, 1, 1), date(2026, 1, 7)), "7d") == {"range": "7d"}


def test_filters_become_placeholders_and_their_values_are_bound_not_pasted() -> None:
    import duckdb

    from trellis.collector import named_params

    filters = Filters(date(2026, 1, 1), date(2026, 1, 31), ("o'brien", "x') OR ('1'='1"), ())
    where = filters.where("t", "team", "env")
    assert "o'brien" not in where and "'" not in where and "env" not in where
    assert Filters(date(2026, 1, 1), date(2026, 1, 1)).where() == "TRUE"
    with duckdb.connect() as con:
        con.execute("CREATE TABLE rows (t TIMESTAMP, team VARCHAR)")
        con.execute(
            "INSERT INTO rows VALUES ('2026-01-05', 'o''brien'), ('2026-01-05', 'other'), ('2026-02-01', 'o''brien')"
        )
        query = f"SELECT team FROM rows WHERE {where}"
        assert con.execute(query, named_params(query, filters.params())).fetchall() == [("o'brien",)]


def test_api_errors_read_as_one_sentence() -> None:
    assert readable(Exception("401: a bearer token is required")) == "sign in first: a bearer token is required"
    assert readable(Exception("403: token 'r' lacks the 'admin' scope")).startswith("not allowed: ")
    assert readable(Exception("409: the proposal is stale\nmore")) == "conflict: the proposal is stale"
    assert readable(Exception("500: boom")) == "the collector failed: boom"
    assert readable(Exception("400: the SQL does not parse")) == "the SQL does not parse"
    assert readable(ValueError("")) == "ValueError"


def test_without_a_collector_a_file_is_read_and_else_it_says_what_to_do(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9"
    with pytest.raises(DashboardError, match="start one with `trellis serve`"):
        locate(dead, None, None)
    with pytest.raises(DashboardError, match="does not exist"):
        locate(dead, str(tmp_path / "missing.duckdb"), None)
    (tmp_path / "x.duckdb").touch()
    assert locate(dead, str(tmp_path / "x.duckdb"), None) == Source("file", dead, str(tmp_path / "x.duckdb"))
    assert not Source("file", dead, "x").editable and Source("api", dead).editable


def test_the_otlp_endpoint_is_guessed_from_the_api() -> None:
    assert otlp_endpoint("http://127.0.0.1:4319") == "http://127.0.0.1:4318"
    assert otlp_endpoint("https://trellis.example") == "https://trellis.example:4318"
    assert otlp_endpoint("http://10.0.0.5:9000") == "http://10.0.0.5:9000"


def test_the_report_page_offers_the_cli_command() -> None:
    command = reports.cli_command(datetime(2026, 1, 1), datetime(2026, 2, 1), ["shop"], "pdf")
    assert command == "trellis report --from 2026-01-01 --to 2026-02-01 --team shop --format pdf --out report.pdf"


def test_the_command_runs_streamlit_headless_without_usage_statistics(tmp_path: Path) -> None:
    command = streamlit_command(8600, "127.0.0.1", tmp_path / "secrets.toml")
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("trellis/dashboard/app.py")
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.port"] == "8600" and flags["--browser.gatherUsageStats"] == "false"
    assert flags["--server.headless"] == "true" and flags["--secrets.files"].endswith("secrets.toml")
    env = dashboard_env("http://c:4319", "tok", tmp_path / "t.duckdb")
    assert env["TRELLIS_API"] == "http://c:4319" and env["TRELLIS_TOKEN"] == "tok"
    assert env["TRELLIS_DASHBOARD_DB"] == str((tmp_path / "t.duckdb").resolve())


def test_the_command_is_registered_and_checks_its_files(tmp_path: Path) -> None:
    from trellis.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["dashboard", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "--db" in result.output
    result = runner.invoke(app, ["dashboard", "--db", str(tmp_path / "missing.duckdb")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_explore_draws_a_counter_reset_as_the_increase_it_was_not_a_drop_or_a_leap() -> None:
    """A cumulative counter that restarts (a new start time, or a lower value): the chart's increase per
    bucket is what was counted, not max - min (which read a restart from 1,000 to 5 as 995 in one bucket)."""
    import duckdb

    from tests.analytics.conftest import insert
    from trellis.collector import named_params
    from trellis.collector.schema import migrate
    from trellis.dashboard.views.explore import metric_query

    def point(hour: int, minute: int, value: float, start: int, series: int = 1) -> dict[str, object]:
        return {"metric_name": "requests", "series_id": series, "service_name": "api",
                "time": datetime(2026, 1, 5, hour, minute), "start_time": datetime(2026, 1, 5, start),
                "value": value, "aggregation_temporality": 2, "is_monotonic": True}  # fmt: skip

    with duckdb.connect() as con:
        migrate(con)
        con.execute("SET TimeZone = 'UTC'")
        insert(con, "otel_metrics_sum", [
            point(10, 0, 900.0, 0), point(10, 30, 1000.0, 0),  # +100
            point(11, 0, 1000.0, 0), point(11, 10, 5.0, 11), point(11, 40, 30.0, 11),  # +0, restart: +5, +25
            point(12, 0, 20.0, 11), point(12, 30, 50.0, 11),  # a drop with the same start: +20, then +30
            point(12, 30, 50.0, 11),  # the same point again (a retry)
            point(11, 0, 7.0, 0, series=2), point(12, 0, 9.0, 0, series=2),  # +2 in the 12:00 bucket
        ])  # fmt: skip
        filters = Filters(date(2026, 1, 5), date(2026, 1, 5))
        query = metric_query("otel_metrics_sum", "service_name", filters, cumulative=True)
        rows = con.execute(query, named_params(query, {**filters.params(), "metric": "requests",
                                                       "group": "service_name"})).fetchall()  # fmt: skip

    assert [(bucket.hour, grp, value) for bucket, grp, value in rows] == [
        (10, "api", 100.0),
        (11, "api", 30.0),
        (12, "api", 52.0),
    ]
