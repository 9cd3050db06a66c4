"""Messages from either Kafka client as the plain records the stages read, and a consumer's stop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from schemas.records import SourceRecord

Headers = Sequence[tuple[str, bytes | None]] | Mapping[str, bytes | None]


class KafkaMessage(Protocol):
    """What aiokafka's ``ConsumerRecord`` and Faust's ``Message`` both carry."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers | None: ...


def source_record(message: KafkaMessage) -> SourceRecord:
    """The record a message holds; a null value or header value reads as empty bytes, so a message
    read back by offset is the same record the worker saw."""
    headers = message.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        value=message.value or b"",
        key=message.key,
        headers=tuple((str(name), bytes(value or b"")) for name, value in pairs),
    )


async def stop_quietly(consumer: Any) -> None:
    """aiokafka 0.14 without a group can raise CancelledError out of stop() after assign(), from
    an internal task it cancels itself; only a cancellation of our own task is passed on."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
