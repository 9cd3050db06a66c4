"""Every command typer knows, tried as a new user would: bad arguments, an empty warehouse, no broker.

The command list comes from the app itself, so a new command is covered without editing this file.
A failure must end in at most three plain lines and a non-zero exit, never in a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from enum import Enum
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from streams.cli import RENAMED, cli

SEATMETER = str(Path(sys.executable).with_name("seatmeter"))
MAX_LINES = 3
TRACEBACK_MARKS = ("Traceback (most recent call last)", "─ Traceback")
pytestmark = [pytest.mark.clickhouse]


def leaf_commands(command: typer.core.TyperGroup | typer.core.TyperCommand, path: tuple[str, ...] = ()):
    """(path, command) for every runnable command, subcommands of groups included."""
    children = getattr(command, "commands", None)
    if children is None:
        return [(path, command)]
    return [leaf for name, child in sorted(children.items()) for leaf in leaf_commands(child, (*path, name))]


COMMANDS = leaf_commands(get_command(cli))
IDS = [" ".join(path) for path, _ in COMMANDS]


def required_arguments(command, missing_file: str) -> list[str]:
    """Plausible values for what a command requires, so that it reaches the warehouse or the broker."""
    args: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        kind = param.type_descriptor.annotation
        if isinstance(kind, type) and issubclass(kind, Enum):
            value = str(next(iter(kind)).value)
        else:
            value = missing_file if "Path" in str(kind) else "SELECT 1"
        args += [param.opts[0], value] if param.param_type_name == "option" else [value]
    return args


def bad_option_values(command) -> list[list[str]]:
    """One invocation per typed option given a word: where a number, a choice or a file goes."""
    return [
        [param.opts[0], "/dev/null/nope" if "Path" in str(param.type_descriptor.annotation) else "not-a-valid-value"]
        for param in command.params
        if param.param_type_name == "option"
        and not param.is_flag
        and param.type_descriptor.annotation is not str
        and "str |" not in str(param.type_descriptor.annotation)
    ]


def assert_plain_failure(output: str, exit_code: int, what: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert not any(mark in output for mark in TRACEBACK_MARKS), f"{what} ends in a traceback:\n{output}"
    assert exit_code != 0, f"{what} exits 0 on an error:\n{output}"
    assert len(lines) <= MAX_LINES, f"{what} prints {len(lines)} lines:\n{output}"


def test_every_command_is_walked():
    names = set(IDS)
    assert {"sql", "pools", "report", "shadow-it", "import entitlements", "dlq replay"} <= names
    assert {"reports users-per-minute", "reports shadow-it", "catalog correct", "alerts evaluate"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_a_bad_argument_is_one_plain_line(path, command, tmp_path, monkeypatch):
    monkeypatch.setenv("SEATMETER_WAREHOUSE__URL", f"chdb://{tmp_path / 'unused'}")
    monkeypatch.setenv("SEATMETER_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
    runner = CliRunner()
    for extra in [["--no-such-option"], *bad_option_values(command)]:
        args = [*path, *required_arguments(command, "/nonexistent/input.csv"), *extra]
        result = runner.invoke(cli, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert_plain_failure(result.output, result.exit_code, " ".join(args))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_an_empty_warehouse_and_no_broker_end_in_plain_lines(path, command, tmp_path):
    env = {
        **os.environ,
        "SEATMETER_WAREHOUSE__URL": f"chdb://{tmp_path / 'empty'}",
        "SEATMETER_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "SEATMETER_WORKER__DATA_DIR": str(tmp_path / "worker"),
        "SEATMETER_CATALOG__OVERRIDES_FILE": str(tmp_path / "overrides.yaml"),
    }
    args = [*path, *required_arguments(command, str(tmp_path / "missing.csv"))]
    done = subprocess.run(
        [SEATMETER, *args], env=env, cwd=tmp_path, input="not json\n", capture_output=True, text=True, timeout=120
    )
    assert not any(mark in done.stdout + done.stderr for mark in TRACEBACK_MARKS), done.stdout + done.stderr
    stderr = without_rename_note(done.stderr, path)
    if done.returncode != 0:
        assert_plain_failure(stderr, done.returncode, " ".join(args))
    else:
        assert not stderr.strip(), f"{' '.join(args)} succeeds but writes to stderr:\n{done.stderr}"


def without_rename_note(stderr: str, path: tuple[str, ...]) -> str:
    """An old command name says its new one first, on a line of its own; the rest is judged alike."""
    if path[0] not in RENAMED:
        return stderr
    note, _, rest = stderr.partition("\n")
    assert note.startswith(f"note: `seatmeter {path[0]}` is now `seatmeter {RENAMED[path[0]][0]}`"), stderr
    return rest


def test_debug_shows_the_traceback(tmp_path):
    env = {**os.environ, "SEATMETER_WAREHOUSE__URL": f"chdb://{tmp_path / 'empty'}"}
    query = "SELECT no_such_column FROM usage_sessions"
    plain = subprocess.run([SEATMETER, "sql", query], env=env, cwd=tmp_path, capture_output=True, text=True)
    debug = subprocess.run([SEATMETER, "--debug", "sql", query], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert plain.stderr.splitlines() == [
        "error: warehouse: Unknown table expression identifier 'usage_sessions' (UNKNOWN_TABLE); "
        "if this warehouse is new, run `seatmeter migrate` first"
    ]
    assert debug.returncode != 0
    assert any(mark in debug.stdout + debug.stderr for mark in TRACEBACK_MARKS)


@pytest.mark.parametrize(
    ("args", "env", "first_line"),
    [
        pytest.param(
            ["pools"], {}, "error: warehouse: Unknown table expression identifier 'license_pools'", id="pools"
        ),
        pytest.param(
            ["reports", "users-per-minute"],
            {},
            "error: warehouse: Unknown table expression identifier 'product_usage_1m_parts'",
            id="report",
        ),
        pytest.param(
            ["pools", "--at", "yesterday"],
            {},
            "error: Invalid value for '--at': expected now, latest, busiest or an ISO time",
            id="pools --at yesterday",
        ),
        pytest.param(
            ["lag"],
            {"SEATMETER_KAFKA__SECURITY_PROTOCOL": "SASL_SSL"},
            "error: invalid SEATMETER_KAFKA: security_protocol SASL_SSL needs sasl_username and sasl_password",
            id="refused Kafka security settings",
        ),
        pytest.param(
            ["pools"],
            {"SEATMETER_WAREHOUSE__URL": "http://127.0.0.1:1"},
            "error: cannot reach the warehouse: Connection refused",
            id="unreachable warehouse",
        ),
        pytest.param(
            ["simulate", "--devices", "0"],
            {},
            "error: Invalid value for '--devices': Input should be greater than or equal to 1",
            id="an option out of range",
        ),
    ],
)
def test_the_mistakes_of_issue_11_end_in_one_line(tmp_path, args, env, first_line):
    env = {"SEATMETER_WAREHOUSE__URL": f"chdb://{tmp_path / 'empty'}", **env}
    done = subprocess.run(
        [SEATMETER, *args], env={**os.environ, **env}, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(first_line), done.stderr
