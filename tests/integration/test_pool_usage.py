"""Seats in use per pool and minute on the real engine: equal to a count from the sessions, by
each license model's unit, and corrected when a late event changes past sessions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from schemas.records import ProductMinuteRollup, SessionRow
from schemas.settings import WarehouseSettings
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.pool_usage import PoolUsageMaterializer
from sinks.clickhouse.warehouse import connect_warehouse
from sinks.clickhouse.writers import CatalogProductWriter, ProductUsageWriter, UsageSessionWriter
from streams.pipeline.name.catalog_rows import catalog_product_rows
from streams.pipeline.name.fingerprint import load_catalog

pytestmark = pytest.mark.clickhouse

T0 = (datetime.now(UTC) - timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
MIN = timedelta(minutes=1)
POOLS = [
    ("cad", "AutoCAD network", ["autodesk-autocad"], [], "concurrent_user", 3),
    ("m365", "Microsoft 365", [], ["Microsoft 365 Apps"], "subscription_seat", 50),
    ("cad-dev", "AutoCAD per device", ["AutoCAD"], [], "per_device", 5),
    ("cad-core", "AutoCAD per core", ["autodesk-autocad"], [], "per_core", 64),
]
CORES = {"d0": 8, "d1": 4, "d2": 16}


@pytest.fixture
def warehouse(tmp_path) -> Iterator[Client]:
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{tmp_path / 'wh'}"))
    apply_migrations(client)
    CatalogProductWriter().write(client, catalog_product_rows(load_catalog()))
    for pool_id, name, products, suites, model, seats in POOLS:
        client.insert(
            "license_pools",
            [[pool_id, name, products, suites, model, seats, 1, "USD", {}, "v", "", 1, 0]],
            column_names=["pool_id", "name", "products", "suites", "license_model", "seats", "unit_cost",
                          "currency", "cost_centres", "vendor", "contract_ref", "version", "is_deleted"],
        )  # fmt: skip
    for device, cores in CORES.items():
        client.insert(
            "inventory_software",
            [[device, "s1", T0, "osquery", device, "windows", "11", cores, 1, "x86_64", "", "production", "x", "", "",
              "", None, 0]],
            column_names=["device_id", "snapshot_id", "taken_at", "source", "hostname", "os", "os_version",
                          "cpu_cores", "cpu_sockets", "machine", "device_group", "environment", "name", "publisher",
                          "version", "install_path", "install_date", "retired"],
        )  # fmt: skip
    yield client
    client.close()


def session(user: str, device: str, product: str, start: int, end: int, version: int = 1, deleted: bool = False):
    return SessionRow(
        session_id=hash((user, device, product, start)) & (2**63 - 1),
        device_id=device,
        user_key=user,
        product=product,
        started_at=T0 + start * MIN,
        ended_at=T0 + end * MIN,
        running_ms=(end - start) * 60_000,
        active_ms=0,
        idle_ms=0,
        event_count=version,
        signins=0,
        activity_measured=True,
        counts_as_use=True,
        session_type="console",
        device_timezone="",
        definition_version="d",
        version=version,
        deleted=deleted,
    )


def brute_force(rows: list[SessionRow], unit) -> dict[tuple[str, datetime], int]:  # type: ignore[no-untyped-def]
    """Per minute, distinct units with a session covering any instant of it."""
    counts: dict[datetime, set[object]] = {}
    for row in rows:
        minute = row.started_at.replace(second=0, microsecond=0)
        last = max(row.started_at, row.ended_at - timedelta(milliseconds=1))
        while minute <= last:
            counts.setdefault(minute, set()).add(unit(row))
            minute += MIN
    return counts


def pool_usage(client: Client, pool: str) -> dict[datetime, int]:
    rows = client.query(
        "SELECT minute, running_in_use FROM pool_usage_1m WHERE pool_id = {p:String}", parameters={"p": pool}
    ).result_rows
    return {m.replace(tzinfo=UTC): int(v) for m, v in rows}


def test_concurrency_per_minute_equals_a_count_from_the_sessions(warehouse):
    rng = random.Random(4)
    rows = []
    for _ in range(40):
        start = rng.randrange(0, 180)
        product = rng.choice(["AutoCAD", "Microsoft Excel", "Microsoft Word"])
        rows.append(
            session(f"u{rng.randrange(8)}", f"d{rng.randrange(3)}", product, start, start + rng.randrange(0, 60))
        )
    UsageSessionWriter().write(warehouse, rows)
    assert PoolUsageMaterializer().refresh(warehouse) > 0
    cad = [r for r in rows if r.product == "AutoCAD"]
    office = [r for r in rows if r.product != "AutoCAD"]
    by_users = brute_force(cad, lambda r: r.user_key)
    assert pool_usage(warehouse, "cad") == {m: len(u) for m, u in by_users.items()}
    assert pool_usage(warehouse, "m365") == {m: len(u) for m, u in brute_force(office, lambda r: r.user_key).items()}
    by_device = brute_force(cad, lambda r: r.device_id)
    assert pool_usage(warehouse, "cad-dev") == {m: len(d) for m, d in by_device.items()}
    assert pool_usage(warehouse, "cad-core") == {m: sum(CORES[d] for d in ds) for m, ds in by_device.items()}


def test_a_late_merge_corrects_past_minutes_and_peaks(warehouse):
    materializer = PoolUsageMaterializer()
    first = [
        session("a", "d0", "AutoCAD", 0, 10),
        session("a", "d0", "AutoCAD", 50, 60),
        session("b", "d1", "AutoCAD", 5, 8),
    ]
    UsageSessionWriter().write(warehouse, first)
    materializer.refresh(warehouse)
    assert pool_usage(warehouse, "cad")[T0 + 6 * MIN] == 2
    assert T0 + 30 * MIN not in pool_usage(warehouse, "cad")
    late = [
        session("a", "d0", "AutoCAD", 0, 60, version=3),
        session("a", "d0", "AutoCAD", 50, 60, version=3, deleted=True),
        session("b", "d1", "AutoCAD", 5, 8, version=2, deleted=True),
    ]
    UsageSessionWriter().write(warehouse, late)
    assert materializer.refresh(warehouse) > 0
    usage = pool_usage(warehouse, "cad")
    assert usage[T0 + 30 * MIN] == 1 and usage[T0 + 6 * MIN] == 1
    assert set(usage) == {T0 + i * MIN for i in range(60)}
    materializer.refresh(warehouse)
    assert pool_usage(warehouse, "cad") == usage, "refreshing again changes nothing"
    peaks = warehouse.query(
        "SELECT running_peak, running_daily_peak_p95, days_with_use, days FROM pool_rightsizing WHERE pool_id = 'cad'"
    ).result_rows
    assert peaks == [(1, 1, 1, 4)], "one day of use, then three without: the p95 of [1, 0, 0, 0] is 1"


def test_active_seats_come_from_active_minutes(warehouse):
    UsageSessionWriter().write(warehouse, [session("a", "d0", "AutoCAD", 0, 5), session("b", "d1", "AutoCAD", 0, 5)])
    ProductUsageWriter().write(
        warehouse, [ProductMinuteRollup(T0 + 2 * MIN, "AutoCAD", ("a",), ("d0",), 30_000, 1, "agent", 0, 7)]
    )
    PoolUsageMaterializer().refresh(warehouse)
    row = warehouse.query(
        "SELECT running_in_use, active_in_use, idle_in_use FROM pool_usage_1m "
        "WHERE pool_id = 'cad' AND minute = {m:DateTime}",
        parameters={"m": (T0 + 2 * MIN).replace(tzinfo=None)},
    ).result_rows
    assert row == [(2, 1, 1)]
