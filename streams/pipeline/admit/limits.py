"""Stage: bounded work per message. A small message can ask for a great deal of work (one 26.6 KB
envelope of 100 samples with 7-day intervals made 907,210 minute rows); a message beyond these
limits is dead-lettered whole, with the limit it broke, before anything is computed from it.

The rows a message may produce are counted as the minutes its events' intervals touch: the most
per-minute rollup contributions it can make, whatever the catalog names them. A batch of many
messages, each within its limit, is worked through in parts of at most ``max_batch_rows`` such
rows, so memory stays bounded however the messages of a batch add up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schemas.records import SourceRecord
from schemas.usage import UsageEvent
from streams.pipeline.decode.opening import SourceDecoded

STAGE = "bound"
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class WorkLimits:
    max_events: int = 10_000
    max_span_minutes: int = 1440
    max_rows: int = 20_000
    max_batch_rows: int = 200_000


DEFAULT_WORK_LIMITS = WorkLimits()


def minutes_spanned(event: UsageEvent) -> int:
    """The most minutes an event's interval can touch (one more than it lasts, unless aligned)."""
    interval_ms = round(event.interval_seconds * 1000)
    return 1 if interval_ms <= 0 else -(-interval_ms // MINUTE_MS) + 1


def work_problem(decoded: SourceDecoded, limits: WorkLimits) -> str | None:
    """Why a decoded message asks for too much work, or ``None``."""
    items = len(decoded.events) + len(decoded.health) + len(decoded.rejections)
    if items > limits.max_events:
        return f"message of {items} events exceeds the {limits.max_events} events one message may hold"
    rows = 0
    for index, event in enumerate(decoded.events):
        span = minutes_spanned(event)
        if span > limits.max_span_minutes:
            return f"event {index} spans {span} minutes, more than the {limits.max_span_minutes} one event may span"
        rows += span
    if rows > limits.max_rows:
        return f"message would make up to {rows} minute rows, more than the {limits.max_rows} one message may make"
    return None


def within_row_budget(
    records: Sequence[SourceRecord], admitted: Iterable[tuple[UsageEvent, SourceRecord]], budget: int
) -> list[list[SourceRecord]]:
    """The batch in consecutive parts whose admitted events touch at most ``budget`` minutes
    each (a message over the budget alone is a part of its own); one part when all fit."""
    rows: dict[tuple[str, int, int], int] = {}
    for event, record in admitted:
        where = (record.topic, record.partition, record.offset)
        rows[where] = rows.get(where, 0) + minutes_spanned(event)
    parts: list[list[SourceRecord]] = [[]]
    used = 0
    for record in records:
        cost = rows.get((record.topic, record.partition, record.offset), 0)
        if parts[-1] and cost and used + cost > budget:
            parts.append([])
            used = 0
        parts[-1].append(record)
        used += cost
    return parts
