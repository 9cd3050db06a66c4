"""Stage: an event delivered again (a re-sent agent buffer, a replayed log page) counts once.

An event id counts once per warehouse, keyed by the day of the event's minute so that ids older
than the allowed lateness can be dropped wholesale. Sources keyed by device send every copy of
an event to one partition, so the worker's record of seen ids is kept per source partition and
needs no warehouse query. Sources without such a key (SSO) and offline replay also pass the
ids the warehouse already counted anywhere (``counted_elsewhere``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta

from schemas.records import SeenKey as SeenKey  # re-exported: the batch and the lookups name it here
from schemas.records import SourcePartition

DAY_MS = 86_400_000


def seen_key(event_minute_ms: int, event_id: str) -> SeenKey:
    """The day (since the epoch, UTC) of the minute the event counts in, and its id: the same
    day the warehouse stores the id under, so the record can be rebuilt from it."""
    return event_minute_ms // DAY_MS, event_id


def first_kept_day(now: datetime, allowed_lateness: timedelta) -> int:
    """The oldest day (since the epoch, UTC) whose ids must be kept: a day before it holds only
    events the door would set aside as late. Never before the epoch: a replay whose clock has
    not moved yet (no valid event read) has nothing older to forget."""
    oldest = (now - allowed_lateness).timestamp() * 1000
    return max(0, int(oldest // DAY_MS) - 1)


def first_copies(
    keyed: Sequence[tuple[SeenKey, SourcePartition]],
    seen: Mapping[SourcePartition, AbstractSet[SeenKey]],
    counted_elsewhere: AbstractSet[SeenKey] = frozenset(),
) -> tuple[list[bool], dict[SourcePartition, list[SeenKey]]]:
    """Which events count: not counted before by their partition (``seen``), nor under any
    partition by the warehouse, nor earlier in this batch. Returns one flag per event, and the
    keys counted now per partition (what the partition's record remembers next)."""
    nothing: frozenset[SeenKey] = frozenset()
    kept: list[bool] = []
    counted: dict[SourcePartition, list[SeenKey]] = defaultdict(list)
    batch_counted: set[SeenKey] = set()
    for key, partition in keyed:
        if key in batch_counted or key in seen.get(partition, nothing) or key in counted_elsewhere:
            kept.append(False)
            continue
        batch_counted.add(key)
        counted[partition].append(key)
        kept.append(True)
    return kept, dict(counted)
