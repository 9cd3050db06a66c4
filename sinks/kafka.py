"""Kafka plumbing outside the Faust worker: topic creation and a plain producer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.settings import KafkaSettings


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: tuple[tuple[str, str], ...] = ()


def pipeline_topics(settings: KafkaSettings) -> list[TopicSpec]:
    """The topics the pipeline reads and writes, keyed so that partitions spread across workers."""
    size = (settings.topic_partitions, settings.replication_factor)
    return [
        TopicSpec(settings.agent_topic, *size),
        TopicSpec(settings.agent_dead_letter_topic, *size, config=(("retention.ms", str(30 * 86_400_000)),)),
        TopicSpec(settings.agent_late_topic, *size, config=(("retention.ms", str(30 * 86_400_000)),)),
    ]


def consumed_topics(settings: KafkaSettings) -> list[str]:
    """The topics the worker group consumes (the late-events topic is kept for people, not read)."""
    return [settings.agent_topic, settings.agent_dead_letter_topic]


async def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec]) -> list[str]:
    """Create missing topics; existing ones are left as they are. Returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [s for s in specs if s.name not in existing]
        if wanted:
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.config)) for s in wanted]
                )
        return [s.name for s in wanted]
    finally:
        await admin.close()


async def produce(bootstrap_servers: str, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
    """Send keyed messages with acks from all replicas; returns once every one is acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_request_size=2 * 1024 * 1024,
        compression_type=None,
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value=value, key=key) for key, value in messages]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def consumer_group_lag(bootstrap_servers: str, group_id: str, topic: str) -> dict[int, int]:
    """Messages per partition that the group has not committed yet (all of them if it never did)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group_id, partitions=tps)
        return {tp.partition: ends[tp] - max(committed[tp].offset, 0) if tp in committed else ends[tp] for tp in tps}
    finally:
        await consumer.stop()
        await admin.close()
