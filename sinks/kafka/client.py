"""Kafka plumbing outside the Faust worker: topic creation and a plain producer.

Every helper takes the whole ``KafkaSettings`` rather than a server list, so none can make a
client without the configured security (``sinks.kafka.security``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import TopicPartition

from schemas.records import SourceRecord
from schemas.settings import KafkaSettings
from sinks.kafka.records import source_record, stop_quietly
from sinks.kafka.security import client_options

COMPACTED = (("cleanup.policy", "compact"), ("max.compaction.lag.ms", str(7 * 86_400_000)))


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: tuple[tuple[str, str], ...] = ()


def pipeline_topics(settings: KafkaSettings) -> list[TopicSpec]:
    """Every usage topic with its dead-letter and late-events topics, keyed so that partitions
    spread across workers (agents and osquery key by device); and the compacted reference topics
    (inventory by device, entitlements by pool, directory by person). Each accepts messages of
    ``max_message_bytes``, the size the worker's producer may send."""
    size = (settings.topic_partitions, settings.replication_factor)
    limit = (("max.message.bytes", str(settings.max_message_bytes)),)
    month = (("retention.ms", str(30 * 86_400_000)), *limit)
    specs = []
    for topic in settings.usage_topics:
        specs.append(TopicSpec(topic, *size, config=limit))
        specs.append(TopicSpec(topic + settings.dead_letter_suffix, *size, config=month))
        specs.append(TopicSpec(topic + settings.late_suffix, *size, config=month))
    for topic in settings.reference_topics:
        specs.append(TopicSpec(topic, *size, config=(*COMPACTED, *limit)))
        specs.append(TopicSpec(topic + settings.dead_letter_suffix, *size, config=month))
    return specs


def catalog_topic(name: str, settings: KafkaSettings) -> TopicSpec:
    """The compacted catalog-corrections topic, keyed by what a correction matches. One partition:
    corrections are few and every worker reads the whole topic anyway."""
    return TopicSpec(name, 1, settings.replication_factor, config=COMPACTED)


def alerts_topic(name: str, settings: KafkaSettings) -> TopicSpec:
    """The compacted alerts topic, keyed by alert id: the latest state of every alert stays."""
    return TopicSpec(name, settings.topic_partitions, settings.replication_factor, config=COMPACTED)


def consumed_topics(settings: KafkaSettings) -> list[str]:
    """The topics the worker group consumes (late-events topics are kept for people, not read)."""
    topics = (*settings.usage_topics, *settings.reference_topics)
    return [t + suffix for t in topics for suffix in ("", settings.dead_letter_suffix)]


async def ensure_topics(kafka: KafkaSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create missing topics; existing ones are left as they are. Returns the names created."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
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


async def produce(
    kafka: KafkaSettings,
    topic: str,
    messages: Sequence[tuple[bytes | None, bytes | None]],
    headers: Sequence[Sequence[tuple[str, bytes]]] | None = None,
) -> None:
    """Send keyed messages with acks from all replicas; returns once every one is acknowledged.
    A ``None`` value is a tombstone. Messages up to ``max_message_bytes``, what the topics take."""
    producer = AIOKafkaProducer(
        **client_options(kafka),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_request_size=kafka.max_message_bytes,
        compression_type=None,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=list(headers[i]) if headers else None)
            for i, (key, value) in enumerate(messages)
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def topic_partitions(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    """Partition numbers of a topic, from the broker (empty when the topic does not exist)."""
    described = await admin.describe_topics([topic])
    return sorted(p["partition"] for d in described if d.get("error_code") == 0 for p in d["partitions"])


async def consumer_group_lag(kafka: KafkaSettings, group_id: str, topic: str) -> dict[int, int]:
    """Messages per partition that the group has not committed yet (all of them if it never did)."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in await topic_partitions(admin, topic)]
        consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(tps)
        finally:
            await stop_quietly(consumer)
        committed = await _committed_offsets(admin, group_id, tps)
        return {tp.partition: ends[tp] - max(committed[tp].offset, 0) if tp in committed else ends[tp] for tp in tps}
    finally:
        await admin.close()


async def _committed_offsets(
    admin: AIOKafkaAdminClient, group_id: str, tps: list[TopicPartition], attempts: int = 20
) -> dict[TopicPartition, Any]:
    """A new broker has no group coordinator until it has made its offsets topic; the admin
    client reports that at once instead of waiting, so wait here (10 s at most)."""
    for _ in range(attempts - 1):
        try:
            return dict(await admin.list_consumer_group_offsets(group_id, partitions=tps))
        except KafkaError as exc:
            if not exc.retriable:
                raise
            await asyncio.sleep(0.5)
    return dict(await admin.list_consumer_group_offsets(group_id, partitions=tps))


async def read_to_end(kafka: KafkaSettings, topic: str) -> list[SourceRecord]:
    """Every message on a topic, from the earliest offset to the end as it was when called."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in await topic_partitions(admin, topic)]
    finally:
        await admin.close()
    if not tps:
        return []
    consumer = AIOKafkaConsumer(**client_options(kafka), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[SourceRecord] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, messages in batches.items():
                records.extend(source_record(m) for m in messages if m.offset < ends[tp])
                if messages and messages[-1].offset >= ends[tp] - 1:
                    remaining.discard(tp)
        return records
    finally:
        await stop_quietly(consumer)


async def read_offsets(
    kafka: KafkaSettings,
    topic: str,
    partition: int,
    first: int,
    last: int,
    chunk: int,
    timeout_seconds: float = 60.0,
) -> AsyncIterator[list[SourceRecord]]:
    """The messages a partition holds from ``first`` to ``last``, in offset order and in chunks
    of at most ``chunk``. Offsets no longer (or never) held, like records compacted away,
    transaction markers or a range before the log start, are simply absent."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        **client_options(kafka), enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        start = max(first, (await consumer.beginning_offsets([tp]))[tp])
        end = min(last + 1, (await consumer.end_offsets([tp]))[tp])
        if start >= end:
            return
        consumer.seek(tp, start)
        pending: list[SourceRecord] = []
        position, moved_at = start, time.monotonic()
        while position < end:
            batches = await consumer.getmany(tp, timeout_ms=500, max_records=chunk)
            pending.extend(source_record(m) for m in batches.get(tp, []) if start <= m.offset < end)
            while len(pending) >= chunk:
                yield pending[:chunk]
                pending = pending[chunk:]
            now, previous = time.monotonic(), position
            position = await consumer.position(tp)
            if position > previous:
                moved_at = time.monotonic()
            elif now - moved_at > timeout_seconds:
                raise TimeoutError(f"reading {topic}:{partition} offsets {start}..{end - 1} stopped at {position}")
        if pending:
            yield pending
    finally:
        await stop_quietly(consumer)
