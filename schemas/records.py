"""Plain values that move between stages: where a message came from, and what became of it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from schemas.usage import UsageEvent

# A topic and one of its partitions: where offsets, progress marks and invalid ratios are kept.
SourcePartition = tuple[str, int]
# An event counted once: its event-time day and its id, as the seen-events store keeps it.
SeenKey = tuple[int, str]


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A Kafka message as the stages see it: bytes and coordinates, no client objects."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Input that cannot be used, with the stage that refused it and why; it becomes a dead letter."""

    record: SourceRecord
    stage: str
    reason: str
    payload: bytes
    item_index: int | None = None


@dataclass(frozen=True, slots=True)
class PlacedUsage:
    """A valid usage event, the product and user pseudonym it counts under, and its message."""

    event: UsageEvent
    product: str
    user_key: str
    topic: str
    partition: int
    offset: int
    category: str = "application"
    catalog_version: str = ""


class MinuteUse(NamedTuple):
    """One (device, user)'s active time in a product's minute and the part of the minute its
    active samples spanned (ms offsets from the minute's start): the warehouse caps the active
    time at that span, summed over every batch, so overlapping windows never exceed the clock.
    A named tuple, not a dataclass: a batch makes one per (device, user) and minute."""

    device_id: str
    user_key: str
    active_ms: int
    covered_from_ms: int
    covered_to_ms: int

    @property
    def key(self) -> int:
        """The (device, user) as the warehouse keys it: a 64-bit hash, cheap to aggregate."""
        return use_key(self.device_id, self.user_key)


@lru_cache(maxsize=65_536)
def use_key(device_id: str, user_key: str) -> int:
    """A (device, user)'s 64-bit key; the same pairs recur in every minute, so it is cached."""
    text = f"{device_id}\x1f{user_key}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class ProductMinuteRollup:
    """One batch's contribution to one product's minute; merged exactly in the warehouse.

    ``batch_last_offset`` is the highest source offset of the batch in ``source_partition``:
    the warehouse's record of what has been written, used to skip replays. ``event_ids`` are the
    events counted in this minute: the record that lets a duplicate be recognized later.
    ``active_ms`` is the raw sum of the batch's shares; ``uses`` splits it per (device, user).
    """

    minute: datetime
    product: str
    users: tuple[str, ...]
    devices: tuple[str, ...]
    active_ms: int
    event_count: int
    source_topic: str
    source_partition: int
    batch_last_offset: int
    event_ids: tuple[str, ...] = ()
    category: str = "application"
    catalog_version: str = ""
    uses: tuple[MinuteUse, ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected input on its way to ``<topic>.dlq`` and the ``dead_letters`` table.

    ``sealed`` names the scheme and key that sealed ``payload`` (empty when stored as sent).
    ``original_bytes`` and ``original_sha256`` are set when the original was too large to carry
    whole: ``payload`` then holds only its beginning, and the letter cannot be replayed.
    """

    source_topic: str
    source_partition: int
    source_offset: int
    item_index: int
    stage: str
    reason: str
    payload: bytes
    dead_lettered_at: datetime
    headers: dict[str, str] = field(default_factory=dict)
    sealed: str = ""
    source_key: str = ""
    original_bytes: int | None = None
    original_sha256: str = ""


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One version of a session for the warehouse; ``deleted`` rows withdraw a superseded id."""

    session_id: int
    device_id: str
    user_key: str
    product: str
    started_at: datetime
    ended_at: datetime
    running_ms: int
    active_ms: int
    idle_ms: int
    event_count: int
    signins: int
    activity_measured: bool
    counts_as_use: bool
    session_type: str
    device_timezone: str
    definition_version: str
    version: int
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class CatalogProductRow:
    """A catalog product as the warehouse joins it to license pools and usage."""

    product: str
    product_id: str
    vendor: str
    suites: tuple[str, ...]
    license_model: str
    licensable: bool
    catalog_version: str


@dataclass(frozen=True, slots=True)
class Arrival:
    """Data arrived from a subject (a device, an agent, a source or the writer) at ``seen_at``."""

    kind: str
    subject: str
    seen_at: datetime
