"""No message can stop the worker: poison messages among good ones on one key, on the real broker
and engine. The worker keeps running, every good event is counted exactly, and every poison
message is dead-lettered with a reason."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from schemas.settings import KafkaSettings
from sinks.kafka.client import ensure_topics, pipeline_topics
from sinks.kafka.security import client_options
from tests.integration.chaos.faults import poison_messages, sample_event
from tests.integration.harness import BOOTSTRAP, Pipeline

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

DEVICE = "WS-POISON"
POISON = poison_messages(DEVICE)


def sample(event_id: str, minutes_ago: float) -> dict[str, object]:
    return sample_event(DEVICE, event_id, minutes_ago)


async def send_gzipped(topic: str, values: list[bytes]) -> None:
    """As a fleet's producer might: gzip in transit, so the broker takes what unpacks to megabytes."""
    producer = AIOKafkaProducer(
        **client_options(KafkaSettings(bootstrap_servers=BOOTSTRAP)),
        acks="all",
        compression_type="gzip",
        max_request_size=64 << 20,
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value=value, key=DEVICE.encode())
    finally:
        await producer.stop()


def test_poison_messages_among_good_ones_are_dead_lettered_and_the_rest_counted_exactly(embedded_pipeline):
    pipeline: Pipeline = embedded_pipeline
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, agent_topic=pipeline.topic)
    asyncio.run(ensure_topics(kafka, pipeline_topics(kafka)))
    values, poison_at = [], {}
    for minute, (name, poison) in enumerate(POISON.items()):
        values += [orjson.dumps(sample(f"good-{minute}-{i}", 10 + minute * 3 + i)) for i in range(2)]
        poison_at[len(values)] = name
        values.append(poison)
    values.append(orjson.dumps(sample("good-last", 40)))
    asyncio.run(send_gzipped(pipeline.topic, values))

    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_messages_consumed_total", len(values), timeout=90)
        pipeline.wait_caught_up(timeout=60)
        worker.assert_alive()
    finally:
        assert worker.stop() == 0

    counted = pipeline.query("SELECT sum(event_count) AS n FROM product_usage_per_minute")[0]
    assert int(counted["n"]) == len(values) - len(POISON)
    letters = pipeline.query("SELECT source_offset, stage, reason FROM dead_letters FINAL ORDER BY source_offset")
    assert {int(row["source_offset"]): poison_at[int(row["source_offset"])] for row in letters} == poison_at
    assert all(row["reason"] for row in letters)
