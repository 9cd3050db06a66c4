"""Batch writers: one column-oriented INSERT per batch per table, each safe to repeat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.records import DeadLetter, ProductMinuteRollup
from schemas.usage import AgentHealth

SourcePartition = tuple[str, int]


class ProductUsageWriter:
    """Writes per-minute product usage and reads back how far each source partition got."""

    table = "product_usage_1m_parts"
    columns = (
        "minute",
        "product",
        "users",
        "devices",
        "active_ms",
        "event_count",
        "source_topic",
        "source_partition",
        "batch_last_offset",
        "event_ids",
        "pseudonym_key_id",
        "category",
        "catalog_version",
    )

    def written_offsets(self, client: Client, topic: str) -> dict[SourcePartition, int]:
        """Highest source offset per partition whose effects the warehouse holds."""
        result = client.query(
            "SELECT source_partition, max(batch_last_offset) FROM product_usage_1m_parts "
            "WHERE source_topic = {topic:String} GROUP BY source_partition",
            parameters={"topic": topic},
        )
        return {(topic, int(partition)): int(offset) for partition, offset in result.result_rows}

    def counted_event_keys(
        self, client: Client, partition: SourcePartition, after_offset: int, since_day: int
    ) -> list[tuple[int, str]]:
        """(day, event id) of events a partition counted past ``after_offset``, from ``since_day``."""
        result = client.query(
            "SELECT toUInt32(toDate(minute)), arrayJoin(event_ids) FROM product_usage_1m_parts "
            "WHERE source_topic = {topic:String} AND source_partition = {partition:UInt32} "
            "AND batch_last_offset > {after:Int64} AND toUInt32(toDate(minute)) >= {since:UInt32}",
            parameters={"topic": partition[0], "partition": partition[1], "after": after_offset, "since": since_day},
        )
        return [(int(day), str(event_id)) for day, event_id in result.result_rows]

    def write(self, client: Client, rollups: Sequence[ProductMinuteRollup], key_id: str = "") -> int:
        if not rollups:
            return 0
        data: list[list[Any]] = [
            [r.minute for r in rollups],
            [r.product for r in rollups],
            [list(r.users) for r in rollups],
            [list(r.devices) for r in rollups],
            [r.active_ms for r in rollups],
            [r.event_count for r in rollups],
            [r.source_topic for r in rollups],
            [r.source_partition for r in rollups],
            [r.batch_last_offset for r in rollups],
            [list(r.event_ids) for r in rollups],
            [key_id] * len(rollups),
            [r.category for r in rollups],
            [r.catalog_version for r in rollups],
        ]
        client.insert(self.table, data, column_names=self.columns, column_oriented=True)
        return len(rollups)


class DeadLetterWriter:
    """Mirrors dead letters into the warehouse; the table's key makes a second copy collapse."""

    table = "dead_letters"
    columns = (
        "dead_lettered_at",
        "source_topic",
        "source_partition",
        "source_offset",
        "item_index",
        "stage",
        "reason",
        "payload",
        "payload_bytes",
        "sealed",
        "headers",
    )

    def write(self, client: Client, letters: Sequence[DeadLetter]) -> int:
        if not letters:
            return 0
        data: list[list[Any]] = [
            [d.dead_lettered_at for d in letters],
            [d.source_topic for d in letters],
            [d.source_partition for d in letters],
            [d.source_offset for d in letters],
            [d.item_index for d in letters],
            [d.stage for d in letters],
            [d.reason for d in letters],
            [d.payload for d in letters],
            [len(d.payload) for d in letters],
            [d.sealed for d in letters],
            [d.headers for d in letters],
        ]
        client.insert(self.table, data, column_names=self.columns, column_oriented=True)
        return len(letters)


class AgentHealthWriter:
    """Agent health rows; written before the usage rows that record progress, so a crash
    between the two replays both and the table's key collapses the repeat."""

    table = "agent_health"
    columns = (
        "device_id",
        "event_time",
        "event_id",
        "agent_version",
        "cpu_percent",
        "memory_bytes",
        "uptime_seconds",
        "buffered_events",
    )

    def write(self, client: Client, health: Sequence[AgentHealth]) -> int:
        if not health:
            return 0
        rows = [
            [h.device_id, h.event_time, h.event_id, h.agent_version, h.cpu_percent, h.memory_bytes, h.uptime_seconds,
             h.buffered_events]
            for h in health
        ]  # fmt: skip
        client.insert(self.table, rows, column_names=list(self.columns))
        return len(rows)
