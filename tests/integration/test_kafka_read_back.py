"""Reading a range of offsets back from the real broker, as the worker does to fill a gap."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from sinks.kafka.client import TopicSpec, ensure_topics, produce, read_offsets
from tests.integration.harness import KAFKA

pytestmark = pytest.mark.kafka


async def _read(topic: str, first: int, last: int, chunk: int) -> list[list[int]]:
    return [[r.offset for r in batch] async for batch in read_offsets(KAFKA, topic, 0, first, last, chunk)]


def test_read_offsets_returns_the_range_in_chunks(kafka_broker):
    topic = f"it-{uuid.uuid4().hex[:10]}.read-back"

    async def scenario() -> tuple[list[list[int]], ...]:
        await ensure_topics(KAFKA, [TopicSpec(topic, 1, 1)])
        await produce(KAFKA, topic, [(b"k", f"m{i}".encode()) for i in range(30)])
        return (
            await _read(topic, 5, 17, 4),
            await _read(topic, 0, 0, 10),
            await _read(topic, 25, 99, 10),
            await _read(topic, 40, 50, 10),
        )

    middle, first, past_the_end, beyond = asyncio.run(scenario())
    assert middle == [[5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17]]
    assert first == [[0]]
    assert past_the_end == [[25, 26, 27, 28, 29]]
    assert beyond == []
