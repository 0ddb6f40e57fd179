"""The connectors file: secrets by environment variable, workloads by payload values, errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trellis.collector.webhooks.connectors import ConnectorsFileError, GitHubConfig, read_connectors
from trellis.testing import finish, trellis

ENV = {"GITHUB_WEBHOOK_SECRET": "s3cret-value"}


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "connectors.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def test_a_source_gets_its_secret_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, {"github": {"secret_env": "GITHUB_WEBHOOK_SECRET"}})

    connectors = read_connectors(path, ENV)

    assert list(connectors) == ["github"]
    assert connectors["github"].secret.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(connectors["github"].secret)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"github": {"secret_env": "MISSING_SECRET"}},
         "field github.secret_env: the environment variable MISSING_SECRET is not set"),
        ({"github": {"secret_env": "GITHUB_WEBHOOK_SECRET", "workloads": [{"match": {"repo": "a/b"},
                                                                          "service_name": "x"}]}},
         "field github: workloads[0].match: 'repo' is not a value these payloads carry; use repository, environment"),
        ({"github": {"secret_env": "GITHUB_WEBHOOK_SECRET", "secret": "in-clear"}},
         "field github.secret: Extra inputs are not permitted"),
        ({"jenkins": {"secret_env": "X"}}, "field jenkins: Extra inputs are not permitted"),
        ("github: [", "not valid YAML: while parsing a flow node"),
    ],
    ids=["variable-not-set", "unknown-match-key", "secret-in-clear", "unknown-source", "not-yaml"],
)  # fmt: skip
def test_a_wrong_file_is_refused_naming_file_and_field(tmp_path: Path, document: object, message: str) -> None:
    path = write(tmp_path, document)

    with pytest.raises(ConnectorsFileError) as caught:
        read_connectors(path, ENV)

    assert str(caught.value).startswith(f"{path}: {message}")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConnectorsFileError, match="cannot read the connectors file: No such file"):
        read_connectors(tmp_path / "absent.yaml", ENV)


def test_the_first_workload_that_matches_wins_and_globs_match() -> None:
    config = GitHubConfig.model_validate({"secret_env": "S", "workloads": [
        {"match": {"repository": "shop/checkout", "environment": "prod*"}, "service_name": "checkout"},
        {"match": {"repository": "shop/*"}, "service_name": "shop"},
    ]})  # fmt: skip

    def chosen(**keys: str) -> str | None:
        found = config.workload(keys)
        return found.service_name if found else None

    assert chosen(repository="shop/checkout", environment="production") == "checkout"
    assert chosen(repository="shop/checkout", environment="staging") == "shop"
    assert chosen(repository="shop/checkout") == "checkout"
    assert chosen(repository="other/checkout") is None


def test_the_collector_refuses_to_start_with_a_variable_not_set(tmp_path: Path) -> None:
    path = write(tmp_path, {"github": {"secret_env": "UNSET_WEBHOOK_SECRET_OF_A_TEST"}})

    code, _, err = finish(trellis("serve", "--db", str(tmp_path / "t.duckdb"), "--connectors-file", str(path)))

    assert code == 1
    assert err.strip() == (
        f"error: {path}: field github.secret_env: the environment variable UNSET_WEBHOOK_SECRET_OF_A_TEST is not set"
    )
