"""The usage batch step: every stage in order, over one batch of one source's messages, no I/O."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import orjson

from schemas.records import PlacedUsage, ProductMinuteRollup, Rejection, SourceRecord
from schemas.usage import AgentHealth, UsageEvent
from streams.pipeline.admit.door import Door, Judgement, Verdict
from streams.pipeline.admit.limits import DEFAULT_WORK_LIMITS, WorkLimits, work_problem
from streams.pipeline.admit.limits import STAGE as BOUND_STAGE
from streams.pipeline.admit.progress import SourcePartition, last_offsets, unwritten
from streams.pipeline.admit.pseudonymize import PseudonymKey, pseudonymize
from streams.pipeline.aggregate.minutes import aggregate_usage, event_minute_ms
from streams.pipeline.decode.agent import DEFAULT_LIMITS, decode_agent_usage
from streams.pipeline.decode.opening import STAGE, SourceDecoded
from streams.pipeline.dedupe.seen import NOTHING_SEEN, SeenEvents, SeenKey, seen_key
from streams.pipeline.name.fingerprint import Matcher, build_matcher, load_catalog
from streams.pipeline.name.product import ProductName, name_product
from streams.pipeline.sessionize.sessions import KeyedObservation, SessionKey, observe

Decoder = Callable[[SourceRecord], SourceDecoded]

ADMIT_STAGE = "admit"


@dataclass(frozen=True, slots=True)
class IngestStep:
    """What a batch produced: rollups to write, observations for sessions, rejections to
    dead-letter, late events to set aside, and counts for metrics and the invalid-ratio guard."""

    rollups: list[ProductMinuteRollup]
    observations: list[KeyedObservation]
    rejections: list[Rejection]
    late: list[Rejection]
    out_of_scope: Counter[str]
    duplicates: int
    background: int
    counted: dict[SourcePartition, list[SeenKey]]
    health: list[AgentHealth]
    events: int
    already_written: int
    last_offsets: dict[SourcePartition, int]
    invalid_by_partition: Counter[SourcePartition]
    messages_by_partition: Counter[SourcePartition]


@dataclass(frozen=True, slots=True)
class AdmittedBatch:
    """A batch after decoding and the rules at the door, before duplicates are dropped."""

    records: int
    fresh: list[SourceRecord]
    admitted: list[tuple[UsageEvent, SourceRecord]]
    rejections: list[Rejection]
    late: list[Rejection]
    out_of_scope: Counter[str]
    health: list[AgentHealth]

    def seen_keys(self) -> list[SeenKey]:
        """The keys the admitted events are counted under: what to look up before ``count_batch``."""
        return [seen_key(event_minute_ms(event), event.event_id) for event, _ in self.admitted]


def ingest_batch(
    records: Sequence[SourceRecord],
    written: Mapping[SourcePartition, int],
    key: PseudonymKey,
    door: Door,
    now: datetime,
    decode: Decoder = decode_agent_usage,
    max_message_bytes: int = DEFAULT_LIMITS.max_message_bytes,
    seen: SeenEvents = NOTHING_SEEN,
    departments: Mapping[str, str] | None = None,
    matcher: Matcher | None = None,
    work: WorkLimits = DEFAULT_WORK_LIMITS,
    counted_elsewhere: AbstractSet[SeenKey] = frozenset(),
) -> IngestStep:
    """``admit_batch`` then ``count_batch``: the whole step for callers that look nothing up between."""
    admitted = admit_batch(records, written, key, door, now, decode, max_message_bytes, departments, work)
    return count_batch(admitted, key, seen, matcher, counted_elsewhere)


def admit_batch(
    records: Sequence[SourceRecord],
    written: Mapping[SourcePartition, int],
    key: PseudonymKey,
    door: Door,
    now: datetime,
    decode: Decoder = decode_agent_usage,
    max_message_bytes: int = DEFAULT_LIMITS.max_message_bytes,
    departments: Mapping[str, str] | None = None,
    work: WorkLimits = DEFAULT_WORK_LIMITS,
) -> AdmittedBatch:
    """Skip what the warehouse holds, decode and apply the rules at the door. ``decode`` is
    the source's decoder; ``departments`` maps user pseudonyms to departments when the scope
    is by department; a message asking for more ``work`` than allowed is dead-lettered whole."""
    fresh = unwritten(records, written)
    batch = AdmittedBatch(len(records), fresh, [], [], [], Counter(), [])
    for record in fresh:
        if len(record.value) > max_message_bytes:
            reason = f"message of {len(record.value)} bytes exceeds {max_message_bytes}"
            batch.rejections.append(Rejection(record, STAGE, reason, record.value))
            continue
        decoded = decode(record)
        problem = work_problem(decoded, work)
        if problem:
            batch.rejections.append(Rejection(record, BOUND_STAGE, problem, record.value))
            continue
        batch.rejections.extend(decoded.rejections)
        batch.health.extend(decoded.health)
        for event in decoded.events:
            department = None
            if departments is not None:
                department = departments.get(pseudonymize(event.attributed_user, key))
            _judge(batch, event, record, door.judge(event, now, department))
    return batch


def _judge(batch: AdmittedBatch, event: UsageEvent, record: SourceRecord, judgement: Judgement) -> None:
    if judgement.verdict is Verdict.ADMIT:
        batch.admitted.append((event, record))
    elif judgement.verdict is Verdict.OUT_OF_SCOPE:
        batch.out_of_scope[judgement.reason] += 1
    else:
        target = batch.late if judgement.verdict is Verdict.LATE else batch.rejections
        target.append(_set_aside(record, event, judgement.reason))


def count_batch(
    batch: AdmittedBatch,
    key: PseudonymKey,
    seen: SeenEvents = NOTHING_SEEN,
    matcher: Matcher | None = None,
    counted_elsewhere: AbstractSet[SeenKey] = frozenset(),
) -> IngestStep:
    """Drop duplicates (of this batch, of the partition's record ``seen``, and the keys the
    warehouse already counted under any partition, ``counted_elsewhere``), name the product,
    pseudonymize and aggregate."""
    matcher = matcher or default_matcher()
    first_copies, counted = _first_copies(batch.admitted, seen, counted_elsewhere)
    usages: list[PlacedUsage] = []
    background = 0
    for event, record in first_copies:
        name = name_product(event, matcher)
        if name is None:
            background += 1
        else:
            usages.append(_place(event, name, record, key))
    marks = last_offsets(batch.fresh)
    return IngestStep(
        rollups=aggregate_usage(usages, marks),
        observations=[_observation(u) for u in usages],
        rejections=batch.rejections,
        late=batch.late,
        out_of_scope=batch.out_of_scope,
        duplicates=len(batch.admitted) - len(first_copies),
        background=background,
        counted=counted,
        health=batch.health,
        events=len(usages),
        already_written=batch.records - len(batch.fresh),
        last_offsets=marks,
        invalid_by_partition=Counter((t, p) for t, p, _ in {_coordinates(r) for r in batch.rejections}),
        messages_by_partition=Counter((r.topic, r.partition) for r in batch.fresh),
    )


@lru_cache(maxsize=1)
def default_matcher() -> Matcher:
    """The bundled catalog, compiled once per process."""
    return build_matcher(load_catalog())


def _first_copies(
    admitted: list[tuple[UsageEvent, SourceRecord]], seen: SeenEvents, counted_elsewhere: AbstractSet[SeenKey]
) -> tuple[list[tuple[UsageEvent, SourceRecord]], dict[SourcePartition, list[SeenKey]]]:
    """Events not counted before, in this batch or earlier, here or elsewhere; and their keys, per partition."""
    keyed = [(seen_key(event_minute_ms(e), e.event_id), e, r) for e, r in admitted]
    by_partition: dict[SourcePartition, list[SeenKey]] = defaultdict(list)
    for key, _, record in keyed:
        by_partition[(record.topic, record.partition)].append(key)
    known = {p: seen.seen(p, keys) for p, keys in by_partition.items()}
    firsts: list[tuple[UsageEvent, SourceRecord]] = []
    counted: dict[SourcePartition, list[SeenKey]] = defaultdict(list)
    batch_counted: set[SeenKey] = set()
    for key, event, record in keyed:
        partition = (record.topic, record.partition)
        if key in known[partition] or key in counted_elsewhere or key in batch_counted:
            continue
        known[partition].add(key)
        batch_counted.add(key)
        counted[partition].append(key)
        firsts.append((event, record))
    return firsts, dict(counted)


def _coordinates(rejection: Rejection) -> tuple[str, int, int]:
    return rejection.record.topic, rejection.record.partition, rejection.record.offset


def _place(event: UsageEvent, name: ProductName, record: SourceRecord, key: PseudonymKey) -> PlacedUsage:
    return PlacedUsage(
        event=event,
        product=name.product,
        category=name.category,
        catalog_version=name.catalog_version,
        user_key=pseudonymize(event.attributed_user, key),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
    )


def _observation(usage: PlacedUsage) -> KeyedObservation:
    key = SessionKey(usage.event.device_id or "", usage.user_key, usage.product)
    return KeyedObservation(key, observe(usage.event), usage.topic, usage.partition, usage.offset)


def _set_aside(record: SourceRecord, event: UsageEvent, reason: str) -> Rejection:
    """A rejection carrying the event's own bytes: the item of an envelope, else the message."""
    payload, index = locate_item(record.value, event.event_id)
    return Rejection(record=record, stage=ADMIT_STAGE, reason=reason, payload=payload, item_index=index)


def locate_item(raw: bytes, event_id: str) -> tuple[bytes, int | None]:
    """Find an event's own JSON inside an envelope (rare path: only for events set aside)."""
    document = orjson.loads(raw)
    if isinstance(document, dict) and isinstance(document.get("events"), list):
        for index, item in enumerate(document["events"]):
            if isinstance(item, dict) and item.get("event_id") == event_id:
                return orjson.dumps(item), index
    return raw, None
