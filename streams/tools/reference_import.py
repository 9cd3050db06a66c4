"""Reference data straight into a warehouse, for trials without a broker (``import ... --to-warehouse``).

The messages are the ones the importer would publish; the worker's own decoder and writer turn them
into rows, so the warehouse gets exactly what a worker consuming the topic would write. Rows are
versioned above every version the table holds, so an import replaces what an earlier import, or a
worker, wrote for the same pool or person.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.records import SourceRecord
from schemas.settings import Settings
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.reference_writers import Versioned
from sinks.clickhouse.warehouse import connect_warehouse
from streams.pipeline.decode.reference import Decoded
from streams.runtime.keys import bind_key_to_warehouse, load_pseudonym_key
from streams.runtime.runner import ReferenceWriter
from streams.runtime.sources import reference_sources

Decoder = Callable[[SourceRecord], Decoded[Any]]


class ImportRefusedError(ValueError):
    """The worker's decoder refused a record the importer made: nothing was written."""


def plan_import(
    topic: str, messages: Sequence[tuple[bytes, bytes]], decode: Decoder, version: int, now: datetime
) -> list[Versioned]:
    """Every message decoded as the worker would decode it, all under one new ``version``."""
    changes: list[Versioned] = []
    reasons: list[str] = []
    for key, value in messages:
        decoded = decode(SourceRecord(topic=topic, partition=0, offset=version, value=value, key=key))
        reasons += [rejection.reason for rejection in decoded.rejections]
        if decoded.change is not None:
            changes.append(Versioned(decoded.change, version, now))
    if reasons:
        raise ImportRefusedError(f"nothing written: {len(reasons)} record(s) refused, first: {reasons[0]}")
    return changes


def next_version(client: Client, table: str) -> int:
    """One above the newest version in ``table``: the import is the latest state of what it names."""
    newest = client.query(f"SELECT max(version) FROM {table}").result_rows[0][0]  # noqa: S608 - a writer's table
    return int(newest or 0) + 1


def write_reference(
    client: Client, topic: str, messages: Sequence[tuple[bytes, bytes]], decode: Decoder, writer: ReferenceWriter,
    now: datetime,
) -> int:  # fmt: skip
    """Plan, then write one INSERT; returns the rows written."""
    changes = plan_import(topic, messages, decode, next_version(client, writer.table), now)
    return writer.write(client, changes)


def import_into_warehouse(settings: Settings, source: str, messages: Sequence[tuple[bytes, bytes]]) -> str:
    """Write ``entitlements`` or ``directory`` messages into the configured warehouse (migrated
    first, and refused under a pseudonym key other than the warehouse's, as replay does);
    returns the table written."""
    key = load_pseudonym_key(settings.privacy)
    spec = {s.name: s for s in reference_sources(settings, key)}[source]
    client = connect_warehouse(settings.warehouse)
    try:
        apply_migrations(client, cluster=settings.warehouse.cluster)
        bind_key_to_warehouse(client, key, settings.privacy)
        write_reference(client, spec.topic, messages, spec.decode, spec.writer, datetime.now(UTC))
    finally:
        client.close()
    return spec.writer.table
