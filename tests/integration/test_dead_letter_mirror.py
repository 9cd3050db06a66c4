"""The dead-letter mirror copies what it can: a message on a dead-letter topic that is not a dead
letter is skipped, one the warehouse refuses stays on its topic, and neither stops the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from schemas.records import DeadLetter, SourceRecord
from schemas.settings import WarehouseSettings
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.warehouse import Warehouse
from streams.pipeline.dead_letters.letters import dead_letter_headers
from streams.runtime.inserter import RetryingInserter
from streams.runtime.runner import DeadLetterMirror

pytestmark = pytest.mark.clickhouse

TOPIC = "seatmeter.agent-usage.dlq"


@pytest.fixture
def warehouse(tmp_path) -> Iterator[Warehouse]:
    """The real schema, with a constraint that makes the engine refuse one kind of letter."""
    warehouse = Warehouse(WarehouseSettings(url=f"chdb://{tmp_path / 'warehouse'}"))
    warehouse.open_blocking()
    warehouse.run_blocking(apply_migrations)
    warehouse.run_blocking(
        lambda client: client.command("ALTER TABLE dead_letters ADD CONSTRAINT no_forgery CHECK stage != 'forged'")
    )
    try:
        yield warehouse
    finally:
        warehouse.close_blocking()


def on_topic(offset: int, stage: str) -> SourceRecord:
    letter = DeadLetter(
        source_topic="seatmeter.agent-usage",
        source_partition=0,
        source_offset=offset,
        item_index=-1,
        stage=stage,
        reason="not valid JSON",
        payload=b"{",
        dead_lettered_at=datetime(2026, 12, 3, 9, tzinfo=UTC),
    )
    return SourceRecord(TOPIC, 0, offset, b"{", headers=tuple(dead_letter_headers(letter)))


def not_mirrored() -> float:
    return REGISTRY.get_sample_value("seatmeter_dead_letters_not_mirrored_total", {"topic": TOPIC}) or 0.0


def test_letters_the_warehouse_refuses_do_not_stop_the_others(warehouse):
    records = [
        on_topic(1, "decode"),
        SourceRecord(TOPIC, 0, 2, b"written by hand", headers=()),
        on_topic(3, "forged"),
        on_topic(4, "validate"),
    ]
    before = not_mirrored()
    mirror = DeadLetterMirror(RetryingInserter(warehouse, warehouse._settings), attempts=2)  # noqa: SLF001
    asyncio.run(mirror.process(records))
    mirrored = warehouse.run_blocking(
        lambda client: client.query("SELECT source_offset, stage FROM dead_letters ORDER BY source_offset").result_rows
    )
    assert mirrored == [(1, "decode"), (4, "validate")]
    assert not_mirrored() - before == 1
