"""The usage runner carries a plan out in its documented order, against a recording writer.

The warehouse here answers the runner's reads as an empty warehouse would; what matters is the
order of the effects and that nothing marks a batch done before its rows are written. The
pipeline on the real broker and engine is tested in tests/integration."""

import asyncio
from datetime import UTC, datetime

import pytest

from schemas.settings import Settings
from sinks.local_state.seen_events import SeenEventStore
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.batch import build_ingest_rules
from streams.pipeline.decode.agent import decode_agent_usage
from streams.runtime.catalog_source import CatalogWatcher
from streams.runtime.inserter import WarehouseUnavailableError
from streams.runtime.runner import UsageProcessor
from tests.unit.helpers import agent_event, record

KEY = PseudonymKey("k1", b"test")
NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


class EmptyWarehouse:
    """Reads of a warehouse that holds nothing yet."""

    async def run(self, fun, *args):
        return {"written_offsets": {}, "counted_event_keys": [], "counted_anywhere": set()}[fun.__name__]


class RecordingClient:
    def __init__(self, log):
        self.log = log

    def insert(self, table, data, column_names=None, column_oriented=False):
        rows = len(data[0]) if column_oriented and data else len(data)
        self.log.append((table, rows))


class RecordingInserter:
    """Writes into the log; fails for the tables in ``failing``."""

    def __init__(self, log, failing=()):
        self.client = RecordingClient(log)
        self.failing = set(failing)

    async def insert(self, table, write):
        if table in self.failing:
            raise WarehouseUnavailableError(f"{table} is down")
        return write(self.client)

    def stop_retrying(self):
        pass


class MemoryStates:
    def __init__(self, log):
        self.log, self.values = log, {}

    async def get_many(self, state_keys):
        return {k: self.values[k] for k in state_keys if k in self.values}

    async def put_many(self, items):
        self.values.update({key: value for _, key, value in items})
        self.log.append(("session states", len(items)))


@pytest.fixture
def runner(tmp_path):
    def make(failing=()):
        log = []

        async def send(kind, letters):
            log.append((kind, len(letters)))

        seen = SeenEventStore(tmp_path / f"seen-{len(failing)}")
        processor = UsageProcessor(
            RecordingInserter(log, failing),
            EmptyWarehouse(),
            KEY,
            build_ingest_rules(Settings(), KEY),
            decode_agent_usage,
            seen,
            CatalogWatcher(tmp_path / "no-overrides.yaml"),
            MemoryStates(log),
            send_dead_letters=lambda letters: send("dead letters", letters),
            send_late=lambda letters: send("late letters", letters),
            read_back=None,
            clock=lambda: NOW,
        )
        return processor, seen, log

    return make


BATCH = [
    record(b"{nope", offset=0),
    record(agent_event(event_id="late", event_time="2026-11-01T10:00:00Z"), offset=1),
    record(agent_event(), offset=2),
]


def test_effects_follow_the_documented_order(runner):
    processor, _, log = runner()
    asyncio.run(processor.process(BATCH))
    tables = [table for table, _ in log]
    assert tables == [
        "catalog_products",
        "dead letters",
        "late letters",
        "usage_definitions",
        "usage_session_versions",
        "session states",
        "product_usage_1m_parts",
        "source_activity",
        "source_last_seen",
    ]
    assert dict(log)["dead letters"] == 1 and dict(log)["late letters"] == 1
    assert dict(log)["product_usage_1m_parts"] >= 1


def test_a_batch_done_is_not_planned_again(runner):
    processor, seen, log = runner()
    asyncio.run(processor.process(BATCH))
    first = len(log)
    asyncio.run(processor.process(BATCH))
    again = [table for table, _ in log[first:]]
    assert "dead letters" not in again and "usage_session_versions" not in again and "session states" not in again
    assert asyncio.run(processor.written_through("agent")) == {("agent", 0): 2}
    assert seen.mark(("agent", 0)) == 2


def test_a_failed_rollup_insert_marks_nothing_done(runner):
    processor, seen, log = runner(failing={"product_usage_1m_parts"})
    with pytest.raises(WarehouseUnavailableError):
        asyncio.run(processor.process(BATCH))
    assert "source_activity" not in [table for table, _ in log]
    assert asyncio.run(processor.written_through("agent")) == {}
    assert seen.mark(("agent", 0)) == -1
