"""Stage: per-minute product usage from a batch of placed events.

Active time of a sample is spread over the minutes its interval covers, in proportion to the
overlap, in whole milliseconds that always add up to the event's own figure. A user or device
counts in a minute when it had active time there; an event counts in the minute its interval
ends in (a sample ending at 10:01:00 sharp covers 10:00).

Each rollup also keeps, per (device, user), the active time and the part of the minute its
active samples spanned. The warehouse caps each (device, user)'s time at that span over all
batches, so two windows of one product never count more than the wall clock; sessions split
and cap active time by the same rule (``minute_shares``), so the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from schemas.moments import epoch_ms as epoch_ms  # re-exported: the stages name it here
from schemas.moments import from_epoch_ms
from schemas.records import MinuteUse, PlacedUsage, ProductMinuteRollup, SourcePartition
from schemas.usage import UsageEvent

MINUTE_MS = 60_000


def minute_start(ms: int) -> int:
    return ms - ms % MINUTE_MS


MinuteShare = tuple[int, int, int, int]
"""(minute start ms, share ms, covered from ms, covered to ms), offsets within the minute."""


def minute_shares(end_ms: int, interval_ms: int, active_ms: int) -> list[MinuteShare]:
    """Split ``active_ms`` over the minutes of ``[end_ms - interval_ms, end_ms)`` by overlap,
    with the part of each minute the interval covers (the wall clock the share may claim).

    Only non-zero shares are returned; they sum to ``active_ms`` exactly. A zero-length
    interval books everything to the minute of ``end_ms`` and covers no time there.
    """
    if active_ms <= 0:
        return []
    if interval_ms <= 0:
        offset = end_ms - minute_start(end_ms)
        return [(minute_start(end_ms), active_ms, offset, offset)]
    start_ms = end_ms - interval_ms
    shares: list[MinuteShare] = []
    covered = given = 0
    minute = minute_start(start_ms)
    while minute < end_ms:
        low, high = max(start_ms, minute), min(end_ms, minute + MINUTE_MS)
        covered += high - low
        share = active_ms * covered // interval_ms - given
        given += share
        if share:
            shares.append((minute, share, low - minute, high - minute))
        minute += MINUTE_MS
    return shares


def spread_active_ms(end_ms: int, interval_ms: int, active_ms: int) -> list[tuple[int, int]]:
    """``(minute_start_ms, share_ms)`` pairs of ``minute_shares``."""
    return [(minute, share) for minute, share, _, _ in minute_shares(end_ms, interval_ms, active_ms)]


def capped_active_ms(active_ms: int, covered_from_ms: int, covered_to_ms: int) -> int:
    """A (device, user)'s active time in a minute, capped at the wall clock its samples spanned."""
    return min(active_ms, covered_to_ms - covered_from_ms)


@dataclass(slots=True)
class _MinuteTally:
    """A product's minute so far; its users and devices are those of ``uses``, every one of
    which had active time in the minute."""

    category: str
    catalog_version: str
    uses: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    active_ms: int = 0
    event_count: int = 0
    event_ids: list[str] = field(default_factory=list)


def event_minute_ms(event: UsageEvent) -> int:
    """The minute an event counts in: the one its interval ends in (10:01:00 sharp is 10:00)."""
    return _counted_minute(epoch_ms(event.event_time), round(event.interval_seconds * 1000))


def _counted_minute(end_ms: int, interval_ms: int) -> int:
    return minute_start(end_ms - 1 if interval_ms > 0 else end_ms)


_Key = tuple[str, int, str, int]


def aggregate_usage(
    usages: Iterable[PlacedUsage], batch_last_offsets: Mapping[SourcePartition, int]
) -> list[ProductMinuteRollup]:
    """Fold a batch into one rollup per (source partition, product, minute), in a stable order.

    ``batch_last_offsets`` holds the highest offset the batch consumed per source partition,
    valid or not, and is stamped on every row as the warehouse's record of progress.
    """
    tallies: dict[_Key, _MinuteTally] = {}
    for usage in usages:
        _add(tallies, usage)
    return [_rollup(key, tally, batch_last_offsets[(key[0], key[1])]) for key, tally in sorted(tallies.items())]


def _add(tallies: dict[_Key, _MinuteTally], usage: PlacedUsage) -> None:
    event = usage.event
    end_ms = epoch_ms(event.event_time)
    topic, partition, product = usage.topic, usage.partition, usage.product
    active_ms = round((event.active_seconds or 0.0) * 1000)
    interval_ms = round(event.interval_seconds * 1000)
    counted_in = _tally(tallies, (topic, partition, product, _counted_minute(end_ms, interval_ms)), usage)
    counted_in.event_count += 1
    counted_in.event_ids.append(event.event_id)
    use_key = (event.device_id or "", usage.user_key)
    for minute, share, low, high in minute_shares(end_ms, interval_ms, active_ms):
        tally = _tally(tallies, (topic, partition, product, minute), usage)
        tally.active_ms += share
        use = tally.uses.get(use_key)
        if use is None:
            tally.uses[use_key] = [share, low, high]
            continue
        use[0] += share
        if low < use[1]:
            use[1] = low
        if high > use[2]:
            use[2] = high


def _tally(tallies: dict[_Key, _MinuteTally], key: _Key, usage: PlacedUsage) -> _MinuteTally:
    """The minute's tally, named as the catalog named the product; the newest catalog wins if a
    reload falls mid-batch."""
    tally = tallies.get(key)
    if tally is None:
        tally = tallies[key] = _MinuteTally(usage.category, usage.catalog_version)
        return tally
    if usage.catalog_version > tally.catalog_version:
        tally.catalog_version = usage.catalog_version
    tally.category = tally.category or usage.category
    return tally


def _rollup(key: _Key, tally: _MinuteTally, batch_last_offset: int) -> ProductMinuteRollup:
    topic, partition, product, minute = key
    users: tuple[str, ...]
    devices: tuple[str, ...]
    uses: tuple[MinuteUse, ...]
    if len(tally.uses) == 1:
        ((device, user), use), *_ = tally.uses.items()
        users, devices, uses = (user,), (device,), (MinuteUse(device, user, *use),)
    else:
        ordered = sorted(tally.uses.items())
        users = tuple(sorted({user for (_, user), _ in ordered}))
        devices = tuple(sorted({device for (device, _), _ in ordered}))
        uses = tuple(MinuteUse(device, user, *use) for (device, user), use in ordered)
    return ProductMinuteRollup(
        minute=_minute_at(minute),
        product=product,
        users=users,
        devices=devices,
        active_ms=tally.active_ms,
        event_count=tally.event_count,
        source_topic=topic,
        source_partition=partition,
        batch_last_offset=batch_last_offset,
        event_ids=tuple(tally.event_ids),
        category=tally.category or "application",
        catalog_version=tally.catalog_version,
        uses=uses,
    )


@lru_cache(maxsize=65_536)
def _minute_at(minute_ms: int) -> datetime:
    """A minute's start as a time; the same minutes recur in every partition and product."""
    return from_epoch_ms(minute_ms)
