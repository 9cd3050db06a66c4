"""Every value the door admits fits every column it is written to, read from the migrated tables.

The bounds are not restated here: the column types come from the real engine's ``system.columns``
after every migration, and the admitted range of each field from the pydantic model. A column
that a writer writes but this file does not map fails the test, so a new column cannot reopen
the hole (a ``buffered_events`` of 2**32 once stopped the worker for good).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import annotated_types
import pytest
from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from schemas.agent import AgentHealthEvent, AgentUsageEvent
from schemas.settings import WarehouseSettings
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.warehouse import connect_warehouse
from sinks.clickhouse.writers import AgentHealthWriter, ProductUsageWriter, UsageSessionWriter
from streams.pipeline.admit.door import Door, DoorPolicy
from streams.pipeline.admit.limits import WorkLimits
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.batch import ingest_batch
from streams.pipeline.decode.agent import to_agent_health
from tests.unit.helpers import agent_event, record

pytestmark = pytest.mark.clickhouse

# What ClickHouse holds per type. DateTime64 columns are cut to DateTime by every table's TTL.
INTEGERS = {f"UInt{bits}": (0, 2**bits - 1) for bits in (8, 16, 32, 64)} | {
    f"Int{bits}": (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) for bits in (8, 16, 32, 64)
}
TIMES = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC))
FLOATS = {"Float32": 3.4e38, "Float64": 1.7e308}

Field = tuple[type[BaseModel], str]
# Each written column: the admitted field whose value it holds, or why its value is bounded anyway.
WRITTEN_FROM: dict[tuple[str, str], Field | str] = {
    ("agent_health", "device_id"): (AgentHealthEvent, "device_id"),
    ("agent_health", "event_time"): (AgentHealthEvent, "event_time"),
    ("agent_health", "event_id"): (AgentHealthEvent, "event_id"),
    ("agent_health", "agent_version"): (AgentHealthEvent, "agent_version"),
    ("agent_health", "cpu_percent"): (AgentHealthEvent, "cpu_percent"),
    ("agent_health", "memory_bytes"): (AgentHealthEvent, "memory_bytes"),
    ("agent_health", "uptime_seconds"): (AgentHealthEvent, "uptime_seconds"),
    ("agent_health", "buffered_events"): (AgentHealthEvent, "buffered_events"),
    ("product_usage_1m_parts", "minute"): (AgentUsageEvent, "event_time"),
    ("product_usage_1m_parts", "product"): "a catalog name",
    ("product_usage_1m_parts", "users"): "pseudonyms",
    ("product_usage_1m_parts", "devices"): (AgentUsageEvent, "device_id"),
    ("product_usage_1m_parts", "active_ms"): "at most a minute per event of a batch",
    ("product_usage_1m_parts", "event_count"): "at most the events of a batch",
    ("product_usage_1m_parts", "source_topic"): "a configured topic",
    ("product_usage_1m_parts", "source_partition"): "a Kafka partition (int32)",
    ("product_usage_1m_parts", "batch_last_offset"): "a Kafka offset (int64, never negative)",
    ("product_usage_1m_parts", "event_ids"): (AgentUsageEvent, "event_id"),
    ("product_usage_1m_parts", "pseudonym_key_id"): "a configured key id",
    ("product_usage_1m_parts", "category"): "a catalog category",
    ("product_usage_1m_parts", "catalog_version"): "a catalog version",
    ("product_usage_1m_parts", "use_keys"): "a 64-bit hash of device and user",
    ("product_usage_1m_parts", "use_active_ms"): "at most a minute per event of a batch",
    ("product_usage_1m_parts", "use_from_ms"): "an offset within the minute, below 60000",
    ("product_usage_1m_parts", "use_to_ms"): "an offset within the minute, at most 60000",
    ("usage_session_versions", "session_id"): "a 64-bit hash",
    ("usage_session_versions", "device_id"): (AgentUsageEvent, "device_id"),
    ("usage_session_versions", "user_key"): "a pseudonym",
    ("usage_session_versions", "product"): "a catalog name",
    ("usage_session_versions", "started_at"): (AgentUsageEvent, "event_time"),
    ("usage_session_versions", "ended_at"): (AgentUsageEvent, "event_time"),
    ("usage_session_versions", "running_ms"): "the span of admitted event times",
    ("usage_session_versions", "active_ms"): "at most the running time",
    ("usage_session_versions", "idle_ms"): "at most the running time",
    ("usage_session_versions", "event_count"): "events of a session, far below 2**32",
    ("usage_session_versions", "signins"): "sign-ins of a session, far below 2**32",
    ("usage_session_versions", "activity_measured"): "a flag",
    ("usage_session_versions", "counts_as_use"): "a flag",
    ("usage_session_versions", "session_type"): (AgentUsageEvent, "session_type"),
    ("usage_session_versions", "device_timezone"): (AgentUsageEvent, "device_timezone"),
    ("usage_session_versions", "definition_version"): "a hash of the settings",
    ("usage_session_versions", "pseudonym_key_id"): "a configured key id",
    ("usage_session_versions", "version"): "a millisecond clock",
    ("usage_session_versions", "deleted"): "a flag",
}
WRITERS = (AgentHealthWriter, ProductUsageWriter, UsageSessionWriter)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Iterator[Client]:
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{tmp_path_factory.mktemp('bounds') / 'wh'}"))
    apply_migrations(client)
    yield client
    client.close()


@pytest.fixture(scope="module")
def column_types(warehouse) -> dict[tuple[str, str], str]:
    rows = warehouse.query(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase()"
    ).result_rows
    return {(table, name): kind for table, name, kind in rows}


def admitted_range(model: type[BaseModel], name: str) -> tuple[Any, Any]:
    """The ``ge``/``le`` bounds pydantic enforces on a field (``None`` where there is none)."""
    low = high = None
    for rule in model.model_fields[name].metadata:
        if isinstance(rule, annotated_types.Ge):
            low = rule.ge
        if isinstance(rule, annotated_types.Le):
            high = rule.le
    return low, high


def held_range(column_type: str) -> tuple[Any, Any] | None:
    """What a column type holds, for the types with limits (``None`` for strings and the like)."""
    base = re.sub(r"^(LowCardinality|Nullable)\((.*)\)$", r"\2", column_type)
    if base in INTEGERS:
        return INTEGERS[base]
    if base.startswith("DateTime"):
        return TIMES
    if base in FLOATS:
        return (-FLOATS[base], FLOATS[base])
    return None


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.table)
def test_every_written_column_is_mapped_to_what_feeds_it(writer, column_types):
    assert {(writer.table, c) for c in writer.columns} <= column_types.keys()
    unmapped = sorted(c for c in writer.columns if (writer.table, c) not in WRITTEN_FROM)
    assert not unmapped, f"map {writer.table} columns {unmapped} to the field feeding them, or say why they are bounded"


@pytest.mark.parametrize(
    ("column", "source"), [(k, v) for k, v in WRITTEN_FROM.items() if not isinstance(v, str)], ids=lambda v: str(v)
)
def test_every_admitted_value_fits_its_column(column, source, column_types):
    held = held_range(column_types[column])
    if held is None:
        return
    low, high = admitted_range(*source)
    assert low is not None and high is not None, (
        f"{source[0].__name__}.{source[1]} is unbounded but {column} holds {held}"
    )
    assert held[0] <= low and high <= held[1], (
        f"{source[0].__name__}.{source[1]} admits {low}..{high}, {column} holds {held}"
    )


@pytest.mark.parametrize("edge", [0, 1], ids=["lowest admitted", "highest admitted"])
def test_health_at_the_edges_of_what_is_admitted_is_written(warehouse, edge):
    fields = ("memory_bytes", "buffered_events", "event_time")
    values = {name: admitted_range(AgentHealthEvent, name)[edge] for name in fields}
    event = AgentHealthEvent.model_validate(
        {"event_id": f"h{edge}", "kind": "health", "device_id": "WS-1", "agent_version": "1", "cpu_percent": 1} | values
    )
    assert AgentHealthWriter().write(warehouse, [to_agent_health(event)]) == 1
    if edge == 0:
        return  # written; a row from 1971 is long past the table's TTL, so a merge may drop it
    row = warehouse.query(
        "SELECT memory_bytes, buffered_events FROM agent_health WHERE event_id = {id:String}",
        parameters={"id": f"h{edge}"},
    )
    assert row.result_rows == [(values["memory_bytes"], values["buffered_events"])]


@pytest.mark.parametrize("edge", [0, 1], ids=["lowest admitted", "highest admitted"])
def test_usage_at_the_edges_of_admitted_times_is_written(warehouse, edge):
    """With the longest interval admitted, which reaches furthest back from the event's time."""
    moment = admitted_range(AgentUsageEvent, "event_time")[edge]
    longest = admitted_range(AgentUsageEvent, "interval_seconds")[1]
    event = agent_event(event_time=moment.isoformat(), interval_seconds=longest, active_seconds=longest, idle_seconds=0)
    unlimited = WorkLimits(max_span_minutes=100_000, max_rows=100_000)
    step = ingest_batch([record(event)], {}, PseudonymKey("k1", b"t"), Door(DoorPolicy()), moment, work=unlimited)
    assert step.rejections == [] and step.rollups
    assert ProductUsageWriter().write(warehouse, step.rollups) == len(step.rollups)
