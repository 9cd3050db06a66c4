"""Stage: exactly-once effects on an at-least-once stream.

The warehouse records, per source partition, the highest offset whose effects it holds. A
record at or below that mark was written before a crash or rebalance, and is skipped.

The same mark says which offset must come next. A batch that starts past it, or skips offsets
inside, has a gap: the consumer moved on without delivering those messages (faust-streaming
can do so after a rebalance) and committing past them would lose them. The gap is read back
before the batch. On a compacted or transactional topic a gap may hold no messages at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas.records import SourcePartition as SourcePartition  # re-exported: the batch and the runner name it here
from schemas.records import SourceRecord


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


@dataclass(frozen=True, slots=True)
class OffsetGap:
    """Offsets ``first`` to ``last`` (inclusive) of a partition, not delivered before a later one."""

    topic: str
    partition: int
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def offset_gaps(records: Iterable[SourceRecord], written: Mapping[SourcePartition, int]) -> list[OffsetGap]:
    """The offsets missing between each partition's mark and the batch's unwritten records."""
    fresh: dict[SourcePartition, set[int]] = {}
    for record in unwritten(records, written):
        fresh.setdefault((record.topic, record.partition), set()).add(record.offset)
    gaps = []
    for (topic, partition), offsets in sorted(fresh.items()):
        expected = written.get((topic, partition), -1) + 1
        for offset in sorted(offsets):
            if offset > expected:
                gaps.append(OffsetGap(topic, partition, expected, offset - 1))
            expected = offset + 1
    return gaps
