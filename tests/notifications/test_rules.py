"""The notifications file: every mistake a user can make is refused with a sentence naming the file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from trellis.notifications import NotificationsFileError, read_notifications

CHANNELS = {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret_env": "NOTIFY_HOOK_SECRET"}}


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "notifications.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def test_a_full_file_is_read_with_its_defaults(tmp_path: Path) -> None:
    rules = [{"name": "approvals", "on": "approval.requested", "channels": ["hook"]}]
    found = read_notifications(write(tmp_path, {"channels": CHANNELS, "rules": rules}))
    assert found.rules[0].options.days_ahead == 7.0 and found.retry.max_attempts == 6
    assert found.channels["hook"].type == "webhook"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"channels": CHANNELS, "rules": [{"name": "a", "on": "version.activated", "channels": ["mail"]}]},
         "field rules.0.channels: channel 'mail' is not defined under channels"),
        ({"channels": CHANNELS, "rules": [{"name": "a", "on": "version.exploded", "channels": ["hook"]}]},
         "field rules.0: 'version.exploded' is neither an event nor a condition"),
        ({"channels": CHANNELS, "rules": [{"name": "a", "on": "gate.denied", "channels": ["hook"], "when": 1}]},
         "field rules.0.when: Extra inputs are not permitted"),
        ({"channels": {"m": {"type": "email", "host": "x", "from": "a@b", "password": "p"}}, "rules": []},
         "field channels.m.email.password: Extra inputs are not permitted"),
        ({"channels": CHANNELS, "rules": [{"name": "a", "on": "gate.denied", "channels": ["hook"]}] * 2},
         "field rules: two rules are named a; each rule needs a name of its own"),
        ("rules: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_a_wrong_file_names_the_file_and_the_field(tmp_path: Path, document: Any, message: str) -> None:
    path = write(tmp_path, document)
    with pytest.raises(NotificationsFileError) as caught:
        read_notifications(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_an_unquoted_on_key_which_yaml_reads_as_true_is_the_rules_on(tmp_path: Path) -> None:
    text = (
        yaml.safe_dump({"channels": CHANNELS}) + "rules:\n  - name: gate\n    on: gate.denied\n    channels: [hook]\n"
    )
    assert read_notifications(write(tmp_path, text)).rules[0].on == "gate.denied"


def test_a_secret_variable_that_is_not_set_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_HOOK_SECRET")
    path = write(tmp_path, {"channels": CHANNELS, "rules": []})
    with pytest.raises(
        NotificationsFileError, match="channel hook: the environment variable NOTIFY_HOOK_SECRET is not set"
    ):
        read_notifications(path)


def test_a_missing_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(NotificationsFileError, match="cannot read: No such file or directory"):
        read_notifications(tmp_path / "absent.yaml")
