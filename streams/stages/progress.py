"""Stage: exactly-once effects on an at-least-once stream.

The warehouse records, per source partition, the highest offset whose effects it holds. A
record at or below that mark was written before a crash or rebalance, and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemas.records import SourceRecord

SourcePartition = tuple[str, int]


def unwritten(records: Iterable[SourceRecord], written: Mapping[SourcePartition, int]) -> list[SourceRecord]:
    """The records whose effects the warehouse does not hold yet."""
    return [r for r in records if r.offset > written.get((r.topic, r.partition), -1)]


def last_offsets(records: Iterable[SourceRecord]) -> dict[SourcePartition, int]:
    """The highest offset per source partition in a batch."""
    marks: dict[SourcePartition, int] = {}
    for record in records:
        key = (record.topic, record.partition)
        marks[key] = max(record.offset, marks.get(key, -1))
    return marks
