"""``seatmeter migrate --print``: the SQL the runner would run, for one server or a cluster, offline."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sinks.clickhouse.migrate import bundled_migrations, migration_script
from streams.cli import cli


@pytest.fixture(autouse=True)
def _embedded(monkeypatch, tmp_path):
    monkeypatch.setenv("SEATMETER_WAREHOUSE__URL", f"chdb://{tmp_path / 'never-opened'}")


@pytest.mark.parametrize(
    ("args", "cluster"),
    [
        pytest.param(["migrate", "--print"], "", id="a single server"),
        pytest.param(["migrate", "--print", "--cluster", "prod"], "prod", id="a named cluster"),
    ],
)
def test_print_shows_the_sql_without_connecting(args, cluster, tmp_path):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == migration_script(bundled_migrations(), cluster) + "\n"
    assert not (tmp_path / "never-opened").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["migrate", "--cluster", "prod"],
            "error: --cluster goes with --print; a cluster is migrated by setting SEATMETER_WAREHOUSE__CLUSTER",
            id="--cluster alone",
        ),
        pytest.param(
            ["migrate", "--print", "--cluster", "two words"],
            "error: cluster name 'two words' is not a remote_servers name",
            id="a name remote_servers cannot hold",
        ),
    ],
)
def test_a_misused_option_is_one_plain_line(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
