"""``seatmeter sql`` prints the engine's own text for a query's FORMAT clause, on chDB and over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fixtures import FIXTURE_PASSWORD

SEATMETER = str(Path(sys.executable).with_name("seatmeter"))
QUERY = "SELECT 1 AS seats, 'Visio' AS pool"
pytestmark = pytest.mark.clickhouse

CASES = [
    pytest.param(f"{QUERY} FORMAT Vertical", [], "Row 1:\n──────\nseats: 1\npool:  Visio\n", id="FORMAT Vertical"),
    pytest.param(f"{QUERY} FORMAT CSVWithNames", [], '"seats","pool"\n1,"Visio"\n', id="FORMAT CSVWithNames"),
    pytest.param(f"{QUERY}\nFORMAT JSONCompact;", [], '"data":\n\t[\n\t\t[1, "Visio"]', id="FORMAT JSONCompact;"),
    pytest.param(f"{QUERY} FORMAT TSV", ["--format", "csv"], "1\tVisio\n", id="the clause wins over --format"),
    pytest.param(QUERY, ["--format", "csv"], '"seats","pool"\n1,"Visio"\n', id="--format without a clause"),
]


def run_sql(env: dict[str, str], cwd: Path, query: str, options: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEATMETER, "sql", query, *options], env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(("query", "options", "expected"), CASES)
def test_a_format_clause_passes_through_on_chdb(tmp_path, query, options, expected):
    done = run_sql({"SEATMETER_WAREHOUSE__URL": f"chdb://{tmp_path / 'warehouse'}"}, tmp_path, query, options)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout


@pytest.mark.parametrize(("query", "options", "expected"), CASES)
def test_a_format_clause_passes_through_over_http(tmp_path, chdb_http_server, query, options, expected):
    env = {
        "SEATMETER_WAREHOUSE__URL": f"http://{chdb_http_server.url.rsplit('@', 1)[-1]}",
        "SEATMETER_WAREHOUSE__PASSWORD": FIXTURE_PASSWORD,
    }
    done = run_sql(env, tmp_path, query, options)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
