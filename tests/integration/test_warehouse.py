"""Migrations and writers on the real ClickHouse engine (chDB in this process)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from schemas.records import DeadLetter, ProductMinuteRollup
from schemas.settings import WarehouseSettings
from schemas.usage import AgentHealth
from sinks.clickhouse.migrate import Migration, MigrationError, apply_migrations, bundled_migrations
from sinks.clickhouse.warehouse import connect_warehouse
from sinks.clickhouse.writers import AgentHealthWriter, DeadLetterWriter, ProductUsageWriter

pytestmark = pytest.mark.clickhouse

MINUTE = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path) -> Iterator[Client]:
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{tmp_path / 'wh'}"))
    apply_migrations(client)
    yield client
    client.close()


def columns(client: Client, table: str) -> dict[str, str]:
    rows = client.query(
        "SELECT name, default_kind FROM system.columns WHERE database = currentDatabase() AND table = {t:String}",
        parameters={"t": table},
    ).result_rows
    return dict(rows)


def rollup(**changes: object) -> ProductMinuteRollup:
    base = ProductMinuteRollup(MINUTE, "excel.exe", ("u1", "u2"), ("d1",), 90_500, 3, "agent", 0, 41)
    return dataclasses.replace(base, **changes)


def test_migrations_apply_once_and_are_recorded(warehouse):
    assert apply_migrations(warehouse) == []
    recorded = warehouse.query("SELECT version FROM schema_migrations FINAL ORDER BY version").result_rows
    assert [v for (v,) in recorded] == [m.version for m in bundled_migrations()]


def test_an_edited_released_migration_is_refused(warehouse):
    first = bundled_migrations()[0]
    edited = Migration(first.version, first.name, first.sql + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        apply_migrations(warehouse, [edited])


@pytest.mark.parametrize(
    ("writer", "row_type"),
    [
        pytest.param(ProductUsageWriter(), ProductMinuteRollup, id="product usage"),
        pytest.param(DeadLetterWriter(), DeadLetter, id="dead letters"),
        pytest.param(AgentHealthWriter(), AgentHealth, id="agent health"),
    ],
)
def test_writers_cover_every_table_column_and_match_their_row_type(warehouse, writer, row_type):
    table = columns(warehouse, writer.table)
    filled_by_engine = {name for name, kind in table.items() if kind}
    assert set(writer.columns) | filled_by_engine == set(table)
    row_fields = {f.name for f in dataclasses.fields(row_type)}
    derived = {"payload_bytes", "pseudonym_key_id", "use_keys", "use_active_ms", "use_from_ms", "use_to_ms"}
    assert set(writer.columns) - derived <= row_fields


def test_view_merges_batches_exactly(warehouse):
    writer = ProductUsageWriter()
    writer.write(warehouse, [rollup(), rollup(users=("u2", "u3"), devices=("d2",), active_ms=1, batch_last_offset=50)])
    writer.write(warehouse, [rollup(source_partition=1, batch_last_offset=7, users=(), devices=(), active_ms=0)])
    [row] = warehouse.query(
        "SELECT active_users, active_devices, toString(active_seconds), event_count FROM product_usage_per_minute"
    ).result_rows
    assert row == (3, 2, "90.501", 9)


def test_written_offsets_report_the_highest_offset_per_partition(warehouse):
    writer = ProductUsageWriter()
    writer.write(warehouse, [rollup(batch_last_offset=41), rollup(batch_last_offset=99, product="word.exe")])
    writer.write(warehouse, [rollup(source_partition=3, batch_last_offset=5)])
    assert writer.written_offsets(warehouse, "agent") == {("agent", 0): 99, ("agent", 3): 5}
    assert writer.written_offsets(warehouse, "other") == {}


def test_a_dead_letter_written_twice_is_kept_once(warehouse):
    letter = DeadLetter("agent", 1, 17, -1, "decode", "not valid JSON", b"\xff{", MINUTE, {"h": "v"})
    DeadLetterWriter().write(warehouse, [letter])
    DeadLetterWriter().write(warehouse, [dataclasses.replace(letter, dead_lettered_at=datetime.now(UTC))])
    rows = warehouse.query("SELECT reason, payload_bytes, headers FROM dead_letters FINAL").result_rows
    assert rows == [("not valid JSON", 2, {"h": "v"})]


def test_shadow_it_report_counts_people_and_devices_of_unknown_executables(warehouse):
    from streams.tools.reports import shadow_it

    ProductUsageWriter().write(
        warehouse,
        [
            rollup(product="tool123.exe", category="unknown", users=("u1", "u2"), devices=("d1",)),
            rollup(product="tool123.exe", category="unknown", users=("u2",), devices=("d2",), batch_last_offset=50),
            rollup(product="Microsoft Excel", category="application"),
        ],
    )
    table = shadow_it(warehouse, MINUTE - timedelta(days=1))
    cells = [list(column.cells) for column in table.columns]
    assert cells[0] == ["tool123.exe"]
    assert (cells[1], cells[2]) == (["2"], ["2"])
