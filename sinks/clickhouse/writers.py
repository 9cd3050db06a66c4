"""Batch writers: one column-oriented INSERT per batch per table, each safe to repeat."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.alerts import Alert, AlertRule, AlertState, SubjectKind
from schemas.moments import as_utc
from schemas.records import (
    Arrival,
    CatalogProductRow,
    DeadLetter,
    ProductMinuteRollup,
    SessionRow,
    SourcePartition,
    use_key,
)
from schemas.usage import AgentHealth


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
        "use_keys",
        "use_active_ms",
        "use_from_ms",
        "use_to_ms",
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

    def counted_anywhere(self, client: Client, keys: Sequence[tuple[int, str]]) -> set[tuple[int, str]]:
        """Which (day, event id) keys the warehouse counted under any topic and partition: one
        query per batch, narrowed to the batch's days and by the ``event_ids`` bloom filter."""
        if not keys:
            return set()
        days = [day for day, _ in keys]
        result = client.query(
            "SELECT DISTINCT toUInt32(toDate(minute)), event_id FROM product_usage_1m_parts "
            "ARRAY JOIN event_ids AS event_id "
            "WHERE minute >= {first:DateTime('UTC')} AND minute < {end:DateTime('UTC')} "
            "AND hasAny(event_ids, {ids:Array(String)}) AND has({ids:Array(String)}, event_id)",
            parameters={
                "first": _day_start(min(days)),
                "end": _day_start(max(days) + 1),
                "ids": sorted({event_id for _, event_id in keys}),
            },
        )
        found = {(int(day), str(event_id)) for day, event_id in result.result_rows}
        return found & set(keys)

    def counted_more_than_once(self, client: Client, since: datetime) -> int:
        """How many event ids of minutes from ``since`` on more than one partition (or replay) counted."""
        result = client.query(
            "SELECT count() FROM (SELECT event_id FROM product_usage_1m_parts ARRAY JOIN event_ids AS event_id "
            "WHERE minute >= {since:DateTime} GROUP BY event_id HAVING count() > 1)",
            parameters={"since": since},
        )
        return int(result.result_rows[0][0])

    def write(self, client: Client, rollups: Sequence[ProductMinuteRollup], key_id: str = "") -> int:
        """One pass over the rows and one over each row's uses: this runs on every batch."""
        if not rollups:
            return 0
        use_keys, use_active, use_from, use_to = [], [], [], []
        for rollup in rollups:
            uses = rollup.uses
            use_keys.append([use_key(u.device_id, u.user_key) for u in uses])
            use_active.append([u.active_ms for u in uses])
            use_from.append([u.covered_from_ms for u in uses])
            use_to.append([u.covered_to_ms for u in uses])
        data: list[list[Any]] = [
            [r.minute for r in rollups],
            [r.product for r in rollups],
            [r.users for r in rollups],
            [r.devices for r in rollups],
            [r.active_ms for r in rollups],
            [r.event_count for r in rollups],
            [r.source_topic for r in rollups],
            [r.source_partition for r in rollups],
            [r.batch_last_offset for r in rollups],
            [r.event_ids for r in rollups],
            [key_id] * len(rollups),
            [r.category for r in rollups],
            [r.catalog_version for r in rollups],
            use_keys,
            use_active,
            use_from,
            use_to,
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


class UsageSessionWriter:
    """Session versions; a repeated batch writes the same versions again, which collapse."""

    table = "usage_session_versions"
    columns = (
        "session_id",
        "device_id",
        "user_key",
        "product",
        "started_at",
        "ended_at",
        "running_ms",
        "active_ms",
        "idle_ms",
        "event_count",
        "signins",
        "activity_measured",
        "counts_as_use",
        "session_type",
        "device_timezone",
        "definition_version",
        "pseudonym_key_id",
        "version",
        "deleted",
    )

    def write(self, client: Client, rows: Sequence[SessionRow], key_id: str = "") -> int:
        if not rows:
            return 0
        data = [
            [r.session_id, r.device_id, r.user_key, r.product, r.started_at, r.ended_at, r.running_ms, r.active_ms,
             r.idle_ms, r.event_count, r.signins, int(r.activity_measured), int(r.counts_as_use), r.session_type,
             r.device_timezone, r.definition_version, key_id, r.version, int(r.deleted)]
            for r in rows
        ]  # fmt: skip
        client.insert(self.table, data, column_names=list(self.columns))
        return len(rows)


SessionKeyTuple = tuple[str, str, str]


def recent_sessions(client: Client, keys: Sequence[SessionKeyTuple], since_ms: int) -> list[tuple[Any, ...]]:
    """The warehouse's live sessions of these (device, user, product) keys that end at or after
    ``since_ms``: (key..., start ms, end ms, active ms, events, measured, signins, type, zone)."""
    if not keys:
        return []
    result = client.query(
        "SELECT device_id, user_key, product, toUnixTimestamp64Milli(started_at), toUnixTimestamp64Milli(ended_at), "
        "active_ms, event_count, activity_measured, signins, session_type, device_timezone "
        "FROM usage_session_versions FINAL "
        "WHERE deleted = 0 AND has({keys:Array(Tuple(String, String, String))}, (device_id, user_key, product)) "
        "AND toUnixTimestamp64Milli(ended_at) >= {since:Int64}",
        parameters={"keys": [tuple(k) for k in keys], "since": since_ms},
    )
    return [tuple(row) for row in result.result_rows]


class UsageDefinitionWriter:
    """Records what a definition version means, so reports can name their thresholds."""

    table = "usage_definitions"
    columns = ("definition_version", "product", "gap_seconds", "min_active_seconds", "weekly_active_minutes")

    def write(self, client: Client, rows: Sequence[tuple[str, str, Decimal, Decimal, Decimal]]) -> int:
        client.insert(self.table, [list(r) for r in rows], column_names=list(self.columns))
        return len(rows)


class CatalogProductWriter:
    """The catalog's products for pool coverage; the latest catalog's row per product wins."""

    table = "catalog_products"
    columns = ("product", "product_id", "vendor", "suites", "license_model", "licensable", "catalog_version")

    def write(self, client: Client, rows: Sequence[CatalogProductRow]) -> int:
        data = [[r.product, r.product_id, r.vendor, list(r.suites), r.license_model, int(r.licensable),
                 r.catalog_version] for r in rows]  # fmt: skip
        client.insert(self.table, data, column_names=list(self.columns))
        return len(rows)


class AlertWriter:
    """Alert lifecycle rows; the latest ``updated_at`` per alert id is its state."""

    table = "alerts"
    columns = ("alert_id", "rule", "subject_kind", "subject", "state", "opened_at", "resolved_at", "value",
               "threshold", "summary", "updated_at")  # fmt: skip

    def write(self, client: Client, alerts: Sequence[Alert]) -> int:
        if not alerts:
            return 0
        data = [[a.alert_id, a.rule.value, a.subject_kind.value, a.subject, a.state.value, a.opened_at, a.resolved_at,
                 a.value, a.threshold, a.summary, a.updated_at] for a in alerts]  # fmt: skip
        client.insert(self.table, data, column_names=list(self.columns))
        return len(alerts)

    def open_alerts(self, client: Client) -> list[Alert]:
        result = client.query(
            "SELECT alert_id, rule, subject_kind, subject, state, opened_at, resolved_at, value, threshold, summary, "
            "updated_at FROM alerts FINAL WHERE state = 'open'"
        )
        return [
            Alert(r[0], AlertRule(r[1]), SubjectKind(r[2]), r[3], AlertState(r[4]), as_utc(r[5]), None, float(r[7]),
                  float(r[8]), r[9], as_utc(r[10]))
            for r in result.result_rows
        ]  # fmt: skip


def _day_start(day: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)


class ArrivalWriter:
    """When data arrived, per subject: the minute history and the latest arrival."""

    tables = ("source_activity", "source_last_seen")

    def write(self, client: Client, arrivals: Sequence[Arrival]) -> int:
        if not arrivals:
            return 0
        history = [[a.kind, a.subject, a.seen_at.replace(second=0, microsecond=0), a.seen_at] for a in arrivals]
        client.insert("source_activity", history, column_names=["kind", "subject", "minute", "seen_at"])
        latest = [[a.kind, a.subject, a.seen_at] for a in arrivals]
        client.insert("source_last_seen", latest, column_names=["kind", "subject", "seen_at"])
        return len(arrivals)
