"""Per-minute active time on the real engine: capped at the wall clock per (device, user) over
every batch, summed across people, readable on warehouses migrated from before the cap, and in
agreement with ``usage_sessions`` for a generated trace replayed offline."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from schemas.records import MinuteUse, ProductMinuteRollup
from schemas.settings import WarehouseSettings
from sinks.clickhouse.migrate import apply_migrations, bundled_migrations
from sinks.clickhouse.warehouse import connect_warehouse
from sinks.clickhouse.writers import ProductUsageWriter
from tests.integration.harness import Pipeline
from tests.integration.session_trace import build_trace

pytestmark = pytest.mark.clickhouse

MINUTE = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
PER_MINUTE = "SELECT toString(active_seconds), active_users, event_count FROM product_usage_per_minute"


@pytest.fixture
def warehouse(tmp_path) -> Iterator[Client]:
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{tmp_path / 'wh'}"))
    yield client
    client.close()


def batch(offset: int, partition: int, *uses: MinuteUse) -> ProductMinuteRollup:
    """One batch's row for Excel at MINUTE, its raw active time the sum of its uses."""
    users, devices = tuple(sorted({u.user_key for u in uses})), tuple(sorted({u.device_id for u in uses}))
    active = sum(u.active_ms for u in uses)
    return ProductMinuteRollup(MINUTE, "Microsoft Excel", users, devices, active, len(uses), "agent", partition, offset,
                               uses=uses)  # fmt: skip


def test_the_view_caps_each_person_at_the_clock_over_batches_and_sums_people(warehouse):
    apply_migrations(warehouse)
    ana_first, ana_second = MinuteUse("WS-1", "ana", 50_000, 0, 60_000), MinuteUse("WS-1", "ana", 40_000, 0, 60_000)
    ben = MinuteUse("WS-2", "ben", 30_000, 30_000, 60_000)
    ProductUsageWriter().write(warehouse, [batch(10, 0, ana_first, ben)])
    ProductUsageWriter().write(warehouse, [batch(4, 1, ana_second)])
    # ana: 90 s raw in one minute, 60 s on the clock; ben: 30 s; two people add up to 90 s
    assert warehouse.query(PER_MINUTE).result_rows == [("90", 2, 3)]
    types = warehouse.query("SELECT name, type FROM system.columns WHERE table = 'product_usage_per_minute'")
    assert dict(types.result_rows) == {"minute": "DateTime('UTC')", "product": "LowCardinality(String)",
        "active_users": "UInt64", "active_devices": "UInt64", "active_seconds": "Decimal(38, 3)",
        "event_count": "UInt64"}  # fmt: skip


def test_rows_from_before_the_cap_read_as_stored_after_migrating(warehouse):
    earlier = [m for m in bundled_migrations() if m.version < 7]
    apply_migrations(warehouse, earlier)
    old = dataclasses.replace(batch(3, 2, MinuteUse("WS-3", "cleo", 70_000, 0, 60_000)), uses=())
    warehouse.insert(
        "product_usage_1m_parts",
        [[old.minute, old.product, list(old.users), list(old.devices), old.active_ms, 1, "agent", 2, 3]],
        column_names=["minute", "product", "users", "devices", "active_ms", "event_count", "source_topic",
                      "source_partition", "batch_last_offset"],
    )  # fmt: skip
    assert [m.version for m in apply_migrations(warehouse)] == [
        m.version for m in bundled_migrations() if m.version >= 7
    ]
    ProductUsageWriter().write(warehouse, [batch(11, 0, MinuteUse("WS-1", "ana", 80_000, 0, 60_000))])
    assert warehouse.query(PER_MINUTE).result_rows == [("130", 2, 2)]


def _active_by_product_and_day(pipeline: Pipeline, sql: str) -> dict[tuple[str, str], Decimal]:
    return {(r["product"], r["day"]): Decimal(str(r["active"])) for r in pipeline.query(sql)}


PER_MINUTE_DAYS = """
SELECT product, toString(toDate(minute)) AS day, sum(active_seconds) AS active
FROM product_usage_per_minute GROUP BY product, day"""
SESSION_DAYS = """
SELECT product, toString(toDate(started_at)) AS day, sum(active_seconds) AS active
FROM usage_sessions GROUP BY product, day"""
CROSSING_MIDNIGHT = """
SELECT DISTINCT product, toString(toDate(started_at)) AS day, 0 AS active FROM usage_sessions
WHERE toDate(started_at) != toDate(ended_at - toIntervalMillisecond(1))
UNION ALL
SELECT DISTINCT product, toString(toDate(ended_at - toIntervalMillisecond(1))) AS day, 0 AS active FROM usage_sessions
WHERE toDate(started_at) != toDate(ended_at - toIntervalMillisecond(1))"""


def test_per_minute_and_sessions_agree_on_active_time_of_a_trace(tmp_path: Path):
    """Sessions count on the day they start, so days a session crosses into are compared as a
    product's total only; every other (product, day) must agree exactly."""
    yesterday_noon = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    trace = build_trace(seed=11, devices=8, end=yesterday_noon)  # days cut alike whatever the hour of the run
    export = tmp_path / "export.jsonl"
    export.write_bytes(b"".join(value + b"\n" for _, value in trace.messages()))
    offline = Pipeline(root=tmp_path, warehouse_url=f"chdb://{tmp_path / 'warehouse'}")
    offline.cli("replay", str(export), "--source", "agent")
    minutes, sessions = (
        _active_by_product_and_day(offline, PER_MINUTE_DAYS),
        _active_by_product_and_day(offline, SESSION_DAYS),
    )
    crossed = set(_active_by_product_and_day(offline, CROSSING_MIDNIGHT))
    for product in {p for p, _ in sessions}:
        total = [sum(v for (p, _), v in table.items() if p == product) for table in (minutes, sessions)]
        assert total[0] == total[1], product
    same_day = {key for key in sessions if key not in crossed}
    assert len(same_day) >= 3
    assert {k: minutes.get(k) for k in same_day} == {k: sessions[k] for k in same_day}
