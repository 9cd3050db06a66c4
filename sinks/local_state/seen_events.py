"""The worker's local record of counted event ids, in RocksDB, rebuilt from the warehouse.

Ids are written here only after the warehouse insert that counted them succeeded, with the
batch's offset as the partition's mark; so this record is never ahead of the warehouse. When
it is behind (a crash between the two writes, or a partition new to this worker), the gap is
loaded back from ``product_usage_1m_parts.event_ids``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import cast

from rocksdict import Options, Rdict, WriteBatch

from schemas.records import SeenKey, SourcePartition

_SEP = b"\x00"
_MARK = b"m"
_ID = b"i"


def open_local_store(path: Path) -> Rdict:
    """A RocksDB folder of raw bytes keys and values, made if missing."""
    path.mkdir(parents=True, exist_ok=True)
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    return Rdict(str(path), options)


class SeenEventStore:
    def __init__(self, path: Path) -> None:
        self._db = open_local_store(path)

    def close(self) -> None:
        self._db.close()

    def seen(self, partition: SourcePartition, keys: Iterable[SeenKey]) -> set[SeenKey]:
        wanted = list(keys)
        if not wanted:
            return set()
        found = cast(list[bytes | None], self._db.get([_id_key(partition, key) for key in wanted]))
        return {key for key, value in zip(wanted, found, strict=True) if value is not None}

    def mark(self, partition: SourcePartition) -> int:
        value = self._db.get(_mark_key(partition))
        return -1 if value is None else int(value)

    def record(
        self, counted: Mapping[SourcePartition, Iterable[SeenKey]], marks: Mapping[SourcePartition, int]
    ) -> None:
        """Remember counted ids and move the marks, after the warehouse holds them: one atomic
        write per batch, so a crash leaves the ids and their mark together or not at all."""
        batch = WriteBatch(raw_mode=True)
        for partition, keys in counted.items():
            for key in keys:
                batch.put(_id_key(partition, key), b"")
        for partition, offset in marks.items():
            batch.put(_mark_key(partition), str(offset).encode())
        self._db.write(batch)

    def forget_partition(self, partition: SourcePartition) -> None:
        """Drop a partition's ids and mark, e.g. when they disagree with the warehouse."""
        prefix = _prefix(_ID, partition)
        self._db.delete_range(prefix, prefix + b"\xff")
        self._db.delete(_mark_key(partition))

    def expire(self, partition: SourcePartition, before_day: int) -> None:
        """Drop ids of events older than ``before_day``: they would be late now, never counted."""
        prefix = _prefix(_ID, partition)
        self._db.delete_range(prefix, prefix + _day(before_day))


@lru_cache(maxsize=4_096)
def _prefix(kind: bytes, partition: SourcePartition) -> bytes:
    topic, number = partition
    return kind + _SEP + topic.encode() + _SEP + number.to_bytes(4, "big") + _SEP


def _day(day: int) -> bytes:
    return day.to_bytes(4, "big", signed=False)


def _id_key(partition: SourcePartition, key: SeenKey) -> bytes:
    day, event_id = key
    return _prefix(_ID, partition) + _day(day) + _SEP + event_id.encode()


def _mark_key(partition: SourcePartition) -> bytes:
    return _prefix(_MARK, partition)
