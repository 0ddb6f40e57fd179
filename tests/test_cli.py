"""trellis/cli.py: the root command: every package's subcommands, --version, errors as one line."""

from __future__ import annotations

from trellis import __version__
from trellis.testing import finish, trellis


def test_version_is_printed_by_the_installed_command() -> None:
    code, out, err = finish(trellis("--version"))
    assert (code, err) == (0, "")
    assert out.strip() == f"trellis {__version__}" and __version__ != "0+unknown"


def test_every_package_brings_its_commands() -> None:
    code, out, _ = finish(trellis("--help"))
    assert code == 0
    for command in ("serve", "query", "emit", "resources", "resolve", "analyze", "report", "dashboard", "demo"):
        assert f" {command} " in out, command


def test_an_unknown_command_is_one_line_of_usage_not_a_traceback() -> None:
    code, _, err = finish(trellis("no-such-command"))
    assert code == 2
    assert "Traceback" not in err and "No such command" in err
