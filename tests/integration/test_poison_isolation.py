"""The general mechanism, through the real processor and engine: whatever makes one message fail,
in a stage or in an insert, that message is set aside with its error's class and the rest of its
batch is written. The decoder here has holes on purpose, standing for ones not found yet."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest

from schemas.records import DeadLetter, SourceRecord
from schemas.settings import Settings, WarehouseSettings
from schemas.usage import AgentHealth
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.warehouse import Warehouse
from sinks.local_state.seen_events import SeenEventStore
from sinks.local_state.session_states import LocalSessionStates
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.decode.agent import decode_agent_usage
from streams.pipeline.decode.opening import SourceDecoded
from streams.runtime.catalog_source import CatalogWatcher
from streams.runtime.runner import RetryingInserter, UsageProcessor, build_ingest_rules
from tests.unit.helpers import agent_event

pytestmark = pytest.mark.clickhouse

NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
KEY = PseudonymKey("k1", b"isolation")


def leaky_decode(record: SourceRecord) -> SourceDecoded:
    """The agent decoder, with two holes: one raises, one admits what no column can hold."""
    if record.value == b"raises":
        raise KeyError("a value from the message")
    if record.value == b"does not fit":
        return SourceDecoded(health=[AgentHealth("h", "WS-1", NOW, "1", 1.0, 1, 1.0, buffered_events=2**32)])
    return decode_agent_usage(record)


def good(offset: int) -> SourceRecord:
    event = agent_event(event_id=f"good-{offset}", event_time=f"2026-11-27T10:{offset:02d}:00Z")
    return SourceRecord("agent", 0, offset, orjson.dumps(event), key=b"WS-1")


def test_a_failing_stage_and_an_unwritable_row_are_set_aside_and_the_rest_written(tmp_path):
    settings = Settings(warehouse=WarehouseSettings(url=f"chdb://{tmp_path / 'wh'}", insert_retries=0))
    warehouse = Warehouse(settings.warehouse)
    warehouse.open_blocking()
    seen = SeenEventStore(tmp_path / "seen")
    sessions = LocalSessionStates(tmp_path / "sessions")
    letters: list[DeadLetter] = []

    async def keep(batch):
        letters.extend(batch)

    try:
        warehouse.run_blocking(apply_migrations)
        processor = UsageProcessor(
            RetryingInserter(warehouse, settings.warehouse),
            warehouse,
            KEY,
            build_ingest_rules(settings, KEY),
            leaky_decode,
            seen,
            CatalogWatcher(tmp_path / "overrides.yaml"),
            sessions,
            send_dead_letters=keep,
            send_late=keep,
            read_back=None,
            clock=lambda: NOW,
        )
        batch = [good(1), SourceRecord("agent", 0, 2, b"raises"), good(3), good(4)]
        batch += [SourceRecord("agent", 0, 5, b"does not fit"), good(6)]
        asyncio.run(processor.process(batch))
        counted = warehouse.run_blocking(
            lambda c: c.query("SELECT sum(event_count) FROM product_usage_1m_parts").result_rows[0][0]
        )
    finally:
        sessions.close()
        seen.close()
        warehouse.close_blocking()
    assert counted == 4
    assert [(d.source_offset, d.stage) for d in letters] == [(2, "process"), (5, "process")]
    assert "KeyError" in letters[0].reason and "UnwritableRowsError" in letters[1].reason
    assert "a value from the message" not in letters[0].reason
