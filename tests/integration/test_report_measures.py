"""Fleets that report by osquery or by SSO only: the reports count them by the measure they have."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.table import Table

from schemas.settings import WarehouseSettings
from sinks.clickhouse.warehouse import connect_warehouse
from streams.pipeline.name.fingerprint import load_catalog
from streams.tools.pool_view import resolve_minute
from streams.tools.reports import ApprovalRules, shadow_it, users_per_minute

SEATMETER = str(Path(sys.executable).with_name("seatmeter"))
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
pytestmark = pytest.mark.clickhouse


def replayed(tmp_path: Path, source: str, fixture: Path) -> Path:
    warehouse = tmp_path / "warehouse"
    env = {
        **os.environ,
        "SEATMETER_WAREHOUSE__URL": f"chdb://{warehouse}",
        "SEATMETER_WORKER__DATA_DIR": str(tmp_path / "worker"),
        "SEATMETER_PRIVACY__PSEUDONYM_KEY_FILE": str(tmp_path / "pseudonym.key"),
    }
    done = subprocess.run(
        [SEATMETER, "replay", "--source", source, str(fixture)], env=env, cwd=tmp_path, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return warehouse


def columns(table: Table | str) -> dict[str, list[str]]:
    assert isinstance(table, Table), table
    return {str(column.header): [str(cell) for cell in column.cells] for column in table.columns}


@pytest.mark.parametrize(
    ("source", "fixture", "product", "measure"),
    [
        pytest.param("osquery", "osquery/windows_snapshot.json", "Microsoft Excel", "running", id="osquery: running"),
        pytest.param("okta", "okta/api_page.json", "Slack", "signed in", id="SSO: signed in"),
        pytest.param("agent", "agent/single_sample_berlin.json", "Microsoft Excel", "active", id="agents: active"),
    ],
)
def test_the_report_counts_each_source_by_its_measure(tmp_path, source, fixture, product, measure):
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{replayed(tmp_path, source, FIXTURES / fixture)}"))
    try:
        grid = columns(users_per_minute(client, 6, 8))
    finally:
        client.close()
    assert grid["minute"][0] == "measure"
    assert grid[product][0] == measure
    assert "1" in grid[product][1:]


def test_shadow_it_lists_an_unknown_tool_that_osquery_saw_running(tmp_path):
    warehouse = replayed(tmp_path, "osquery", FIXTURES / "osquery" / "windows_snapshot.json")
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{warehouse}"))
    try:
        listed = columns(shadow_it(client, SINCE, ApprovalRules(load_catalog())))
    finally:
        client.close()
    row = listed["software"].index("labtool.exe")
    assert (listed["users"][row], listed["devices"][row], listed["measure"][row]) == ("1", "1", "running")
    assert listed["hours"][row] == "0.250"


def test_the_busiest_minute_of_an_osquery_fleet_is_where_its_processes_ran(tmp_path):
    warehouse = replayed(tmp_path, "osquery", FIXTURES / "osquery" / "windows_snapshot.json")
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{warehouse}"))
    try:
        busiest = resolve_minute(client, "busiest")
    finally:
        client.close()
    assert busiest == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # the sighting covers 09:00 to 09:15
