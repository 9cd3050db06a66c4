"""The command line groups commands by what people do, and old names keep working for a release."""

from __future__ import annotations

import inspect

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from streams.cli import PANELS, RENAMED, cli

ROOT = get_command(cli)


def resolve(path: str):  # type: ignore[no-untyped-def]
    command = ROOT
    for name in path.split():
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def test_every_visible_command_sits_in_a_named_panel():
    visible = {name: command for name, command in ROOT.commands.items() if not command.hidden}  # type: ignore[attr-defined]
    assert {command.rich_help_panel for command in visible.values()} == set(PANELS)


def test_the_help_lists_the_panels_in_order_and_no_markup():
    result = CliRunner().invoke(cli, ["--help"], terminal_width=100)
    assert result.exit_code == 0
    positions = [result.output.index(f"─ {panel} ") for panel in PANELS]
    assert positions == sorted(positions)
    assert "``" not in result.output
    listed = {line.split()[1] for line in result.output.splitlines() if line.startswith("│ ") and line[2] != " "}
    assert listed.isdisjoint(RENAMED)
    assert {"worker", "replay", "catalog", "alerts", "reports", "migrate"} <= listed


@pytest.mark.parametrize(("old", "new"), [(old, new) for old, (new, _) in RENAMED.items()])
def test_an_old_name_is_hidden_and_runs_the_new_command(old, new):
    alias, command = ROOT.commands[old], resolve(new)  # type: ignore[attr-defined]
    assert alias.hidden
    assert inspect.unwrap(alias.callback) is inspect.unwrap(command.callback)
    assert [p.name for p in alias.params] == [p.name for p in command.params]


def test_an_old_name_says_its_new_name(monkeypatch):
    """``fingerprint`` needs no broker or warehouse: the note goes to stderr, the answer to stdout."""
    result = CliRunner().invoke(cli, ["fingerprint"], input='{"exe_path": "C:/Program Files/x/EXCEL.EXE"}\n')
    assert result.exit_code == 0, result.output
    assert "`seatmeter fingerprint` is now `seatmeter catalog fingerprint`" in result.stderr
    assert '"product"' in result.stdout


def test_a_glob_in_an_option_help_keeps_its_stars():
    result = CliRunner().invoke(cli, ["catalog", "correct", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "*/tools/acme*.exe" in result.output
