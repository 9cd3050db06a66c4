"""Every query in ``sinks/clickhouse/queries`` runs on the real engine over the migrated schema,
returns the columns its readers expect, and is loaded by some module.

The warehouse holds a little of everything (pools, sessions, usage rows, arrivals, an alert), so
each query returns rows as well: a query that silently matched nothing would hide a broken join.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from schemas.alerts import AlertRule, SubjectKind
from schemas.records import Arrival, ProductMinuteRollup, SessionRow
from schemas.reference import Entitlement
from schemas.reference_changes import PoolChange
from schemas.settings import WarehouseSettings
from sinks.clickhouse import pool_usage, queries
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.pool_usage import PoolUsageMaterializer
from sinks.clickhouse.reference_writers import LicensePoolWriter, Versioned
from sinks.clickhouse.warehouse import connect_warehouse
from sinks.clickhouse.writers import (
    AlertWriter,
    ArrivalWriter,
    CatalogProductWriter,
    ProductUsageWriter,
    UsageSessionWriter,
)
from streams.pipeline.alerts.lifecycle import make_alert
from streams.pipeline.name.catalog_rows import catalog_product_rows
from streams.pipeline.name.fingerprint import load_catalog
from tests.integration.test_pool_usage import MIN, T0, session

pytestmark = pytest.mark.clickhouse

ROOT = Path(__file__).resolve().parents[2]
QUERY_FILES = resources.files("sinks.clickhouse.queries")
WINDOW = {"start": T0.replace(tzinfo=None), "end": (T0 + 60 * MIN).replace(tzinfo=None)}
DAY_BEFORE = T0 - timedelta(days=1)
POOLS = [
    {"pool_id": "cad", "name": "AutoCAD network", "products": ["autodesk-autocad"], "seats": 1,
     "license_model": "concurrent_user"},
    {"pool_id": "m365", "name": "Microsoft 365", "suites": ["Microsoft 365 Apps"], "seats": 50,
     "license_model": "subscription_seat"},
]  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{tmp_path_factory.mktemp('queries') / 'wh'}"))
    apply_migrations(client)
    write_rows(client)
    yield client
    client.close()


def write_rows(
    client: Client, more_sessions: Sequence[SessionRow] = (), more_rollups: Sequence[ProductMinuteRollup] = ()
) -> None:
    """The rows every query here reads: catalog, pools, sessions, rollups, arrivals, an alert."""
    CatalogProductWriter().write(client, catalog_product_rows(load_catalog()))
    pools = [Entitlement.model_validate({**p, "unit_cost": "1", "currency": "EUR"}) for p in POOLS]
    LicensePoolWriter().write(client, [Versioned(PoolChange(p.pool_id, p), 1, T0) for p in pools])
    UsageSessionWriter().write(
        client,
        [
            session("a", "d0", "AutoCAD", 0, 10),
            session("b", "d1", "AutoCAD", 5, 8),
            session("c", "d2", "Adobe Acrobat", 0, 30),
            *more_sessions,
        ],
    )
    ProductUsageWriter().write(
        client,
        [
            ProductMinuteRollup(T0 + 2 * MIN, "AutoCAD", ("a",), ("d0",), 30_000, 1, "agent", 0, 7),
            ProductMinuteRollup(
                T0 + 3 * MIN, "tool.exe", ("a",), ("d0",), 20_000, 1, "agent", 0, 8, category="unknown"
            ),
            *more_rollups,
        ],
    )
    ArrivalWriter().write(client, [Arrival("device", "d0", T0 + 2 * MIN), Arrival("device", "d1", T0 + 9 * MIN)])
    overrun = make_alert(AlertRule.POOL_OVERRUN, SubjectKind.POOL, "cad", T0 + 5 * MIN, None, 2, 1, "cad", T0 + 8 * MIN)
    AlertWriter().write(client, [overrun])
    PoolUsageMaterializer().refresh(client)


CASES = [
    pytest.param("alerts", {"include_resolved": 1, "limit": 200},
                 ["state", "rule", "summary", "opened", "resolved"], id="alerts"),
    pytest.param("license_pools", {"at": (T0 + 6 * MIN).replace(tzinfo=None), "day_start": WINDOW["start"]},
                 ["pool_id", "pool", "license_model", "seats", "in_use_now", "active_now", "peak_today",
                  "alerts_open"], id="license_pools"),
    pytest.param("shadow_it", {"since": DAY_BEFORE, "judge_unapproved": True, "names": ["autocad"],
                               "ids": [["autodesk-autocad"]], "suites": [[]], "exempt": [], "approved": []},
                 ["software", "users", "devices", "reason", "measure", "hours", "events", "first_seen", "last_seen"],
                 id="shadow_it"),
    pytest.param("users_per_minute", WINDOW, ["minute", "product", "users", "measures"], id="users_per_minute"),
    pytest.param("busiest_minute", {"start": datetime(1970, 1, 1), "end": datetime(2105, 12, 31)}, ["minute"],
                 id="busiest_minute"),
    pytest.param("latest_usage_minute", {}, ["latest_minute"], id="latest_usage_minute"),
    pytest.param("live_pool_count", {}, ["live_pools"], id="live_pool_count"),
    pytest.param("unlicensed_use", {"since": DAY_BEFORE},
                 ["product", "vendor", "license_model", "users", "devices", "active_hours", "first_seen", "last_seen"],
                 id="unlicensed_use"),
    pytest.param("alert_pools", {}, ["pool_id", "name", "license_model", "seats"], id="alert_pools"),
    pytest.param("alert_pool_minutes", {"start": WINDOW["start"], "until": WINDOW["end"]},
                 ["pool_id", "minute", "running_in_use", "active_in_use"], id="alert_pool_minutes"),
    pytest.param("alert_named_users", {"since": DAY_BEFORE}, ["pool_id", "named_users"], id="alert_named_users"),
    pytest.param("alert_unlicensed", {"since": DAY_BEFORE}, ["product", "users"], id="alert_unlicensed"),
    pytest.param("alert_source_minutes", {"start": DAY_BEFORE}, ["kind", "subject", "minute"],
                 id="alert_source_minutes"),
    pytest.param("alert_source_last_seen", {"remembered": T0 - timedelta(days=30)},
                 ["kind", "subject", "last_arrival"], id="alert_source_last_seen"),
    pytest.param("pool_usage_stamps", {},
                 ["sessions_written_at", "usage_written_at", "pools_updated_at", "catalog_recorded_at"],
                 id="pool_usage_stamps"),
    pytest.param("pool_usage_dirty_from", {"since": datetime(1970, 1, 1, tzinfo=UTC)}, ["dirty_from"],
                 id="pool_usage_dirty_from"),
    pytest.param("pool_usage_last_session_end", {}, ["last_session_end"], id="pool_usage_last_session_end"),
    pytest.param("pool_usage_compute", WINDOW, list(pool_usage._COLUMNS), id="pool_usage_compute"),
    pytest.param("pool_usage_held", WINDOW, ["pool_id", "minute", "pool_name", "license_model", "seats"],
                 id="pool_usage_held"),
]  # fmt: skip


def query_names() -> set[str]:
    return {entry.name.removesuffix(".sql") for entry in QUERY_FILES.iterdir() if entry.name.endswith(".sql")}


@pytest.mark.parametrize(("name", "parameters", "columns"), CASES)
def test_the_query_runs_and_returns_its_columns(warehouse, name, parameters, columns):
    result = warehouse.query(queries.load(name), parameters=parameters)
    assert list(result.column_names) == columns
    assert result.result_rows, f"{name}.sql matched nothing in a warehouse that holds data for it"


def test_every_query_file_is_run_here():
    assert {case.values[0] for case in CASES} == query_names()


def test_every_query_file_is_loaded_by_some_module():
    """A query nothing loads is dead SQL; ``queries.load("NAME")`` or an include counts as a use."""
    modules = [p for folder in ("schemas", "sinks", "streams") for p in (ROOT / folder).rglob("*.py")]
    loaded = {m for p in modules for m in re.findall(r'queries\.load\(\s*"(\w+)"\s*\)', p.read_text())}
    included = {m for e in QUERY_FILES.iterdir() if e.name.endswith(".sql")
                for m in re.findall(r"/\* include (\w+) \*/", e.read_text(encoding="utf-8"))}  # fmt: skip
    assert query_names() - loaded - included == set()


def test_an_include_is_replaced_by_the_included_query():
    busiest = queries.load("busiest_minute")
    assert queries.load("users_per_minute") in busiest
    assert "/* include" not in busiest
