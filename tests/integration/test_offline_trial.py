"""A trial on exported logs without a broker: reference data and usage both go straight into chDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.settings import PrivacySettings, WarehouseSettings
from sinks.clickhouse.warehouse import connect_warehouse
from streams.pipeline.admit.pseudonymize import pseudonymize
from streams.runtime.keys import load_pseudonym_key
from streams.tools.importers import read_directory

SEATMETER = str(Path(sys.executable).with_name("seatmeter"))
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OSQUERY = FIXTURES / "osquery" / "windows_snapshot.json"  # Excel, Teams, Chrome and an unknown tool on WS-0001
pytestmark = pytest.mark.clickhouse


def run(tmp_path: Path, *args: str) -> str:
    env = {
        **os.environ,
        "SEATMETER_WAREHOUSE__URL": f"chdb://{tmp_path / 'warehouse'}",
        "SEATMETER_WORKER__DATA_DIR": str(tmp_path / "worker"),
        "SEATMETER_PRIVACY__PSEUDONYM_KEY_FILE": str(tmp_path / "pseudonym.key"),
        "SEATMETER_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",  # no broker: nothing may need one
    }
    done = subprocess.run([SEATMETER, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def query(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{tmp_path / 'warehouse'}"))
    try:
        return [tuple(row) for row in client.query(sql).result_rows]
    finally:
        client.close()


UNLICENSED = "SELECT subject FROM alerts FINAL WHERE rule = 'unlicensed_use' AND state = 'open' ORDER BY subject"


def test_without_pools_every_licensable_product_opens_unlicensed_use(tmp_path):
    run(tmp_path, "replay", "--source", "osquery", str(OSQUERY))
    assert ("Microsoft Excel",) in query(tmp_path, UNLICENSED)


def test_imported_pools_and_people_reach_the_warehouse_without_a_broker(tmp_path):
    run(tmp_path, "import", "entitlements", "--to-warehouse", str(FIXTURES / "reference" / "entitlements.csv"))
    run(tmp_path, "import", "directory", "--to-warehouse", str(FIXTURES / "reference" / "directory.csv"))
    run(tmp_path, "replay", "--source", "osquery", str(OSQUERY))

    pools = run(tmp_path, "pools", "--at", "latest")
    assert "Microsoft 365 E3" in pools and "Tableau Creator" in pools
    assert query(tmp_path, UNLICENSED) == []
    in_use = "SELECT running_in_use FROM pool_usage_1m WHERE pool_id = 'm365-e3' AND minute = '2026-11-27 09:14:00'"
    assert query(tmp_path, in_use) == [(1,)]

    key = load_pseudonym_key(PrivacySettings(pseudonym_key_file=tmp_path / "pseudonym.key"))
    people = read_directory(FIXTURES / "reference" / "directory.csv")
    written = query(tmp_path, "SELECT user_key FROM directory_people FINAL WHERE is_deleted = 0")
    assert {row[0] for row in written} == {pseudonymize(p.user, key) for p in people}


def test_importing_again_changes_a_pool_and_adds_no_row_to_the_view(tmp_path):
    path = tmp_path / "pools.csv"
    header = "pool_id,name,products,license_model,seats,unit_cost,currency\n"
    path.write_text(header + "cad,AutoCAD,autodesk-autocad,concurrent_user,20,1,EUR\n")
    run(tmp_path, "import", "entitlements", "--to-warehouse", str(path))
    path.write_text(header + "cad,AutoCAD,autodesk-autocad,concurrent_user,25,1,EUR\n")
    run(tmp_path, "import", "entitlements", "--to-warehouse", str(path))
    assert query(tmp_path, "SELECT pool_id, seats FROM license_pools FINAL") == [("cad", 25)]
