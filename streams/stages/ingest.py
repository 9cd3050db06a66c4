"""The agent-usage batch step: every stage in order, over one batch of messages, with no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from schemas.records import PlacedUsage, ProductMinuteRollup, Rejection, SourceRecord
from streams.stages.aggregate import aggregate_usage
from streams.stages.decode import decode_agent_usage
from streams.stages.product import provisional_product
from streams.stages.progress import SourcePartition, last_offsets, unwritten
from streams.stages.pseudonymize import PseudonymKey, pseudonymize


@dataclass(frozen=True, slots=True)
class IngestStep:
    """What a batch produced: rollups to write, rejections to dead-letter, and counts for metrics."""

    rollups: list[ProductMinuteRollup]
    rejections: list[Rejection]
    events: int
    already_written: int
    last_offsets: dict[SourcePartition, int]


def ingest_agent_batch(
    records: Sequence[SourceRecord], written: Mapping[SourcePartition, int], key: PseudonymKey
) -> IngestStep:
    """Skip what the warehouse already holds, decode, name the product, pseudonymize, aggregate."""
    fresh = unwritten(records, written)
    usages: list[PlacedUsage] = []
    rejections: list[Rejection] = []
    for record in fresh:
        decoded = decode_agent_usage(record)
        rejections.extend(decoded.rejections)
        usages.extend(
            PlacedUsage(
                event=event,
                product=provisional_product(event.executable),
                user_key=pseudonymize(event.user, key),
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            for event in decoded.events
        )
    marks = last_offsets(fresh)
    return IngestStep(
        rollups=aggregate_usage(usages, marks),
        rejections=rejections,
        events=len(usages),
        already_written=len(records) - len(fresh),
        last_offsets=marks,
    )
