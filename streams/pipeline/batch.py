"""The usage batch plan: every stage in order over one batch of one source's messages, no I/O.

A batch is planned in two pure halves because what must be looked up depends on what the
batch holds. ``read_batch`` skips what the warehouse holds, decodes, applies the rules at the
door and names each event's product; the runner then fetches what it asks for (the seen keys
of its events, the keys counted under other partitions, the session states of its keys) and
``plan_batch`` turns the read batch and those answers into everything to write: dead letters,
late letters, health rows, session rows and states, rollups, arrivals, seen marks and counts.
The runner (``streams.runtime.runner``) carries the plan out in the order its docstring gives.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import orjson

from schemas.records import Arrival, DeadLetter, PlacedUsage, ProductMinuteRollup, Rejection, SessionRow, SourceRecord
from schemas.settings import Settings
from schemas.usage import AgentHealth, UsageEvent
from streams.pipeline.admit.door import Door, DoorPolicy, Judgement, Verdict
from streams.pipeline.admit.guard import InvalidRatioLimit
from streams.pipeline.admit.limits import DEFAULT_WORK_LIMITS, WorkLimits, work_problem
from streams.pipeline.admit.limits import STAGE as BOUND_STAGE
from streams.pipeline.admit.progress import SourcePartition, last_offsets, unwritten
from streams.pipeline.admit.pseudonymize import PseudonymKey, pseudonymize
from streams.pipeline.aggregate.arrivals import batch_arrivals
from streams.pipeline.aggregate.minutes import aggregate_usage, epoch_ms, event_minute_ms
from streams.pipeline.dead_letters.letters import DEFAULT_LETTER_LIMIT, to_dead_letter
from streams.pipeline.dead_letters.seal import Sealer
from streams.pipeline.decode.agent import DEFAULT_LIMITS, SizeLimits, decode_agent_usage
from streams.pipeline.decode.opening import STAGE, SourceDecoded
from streams.pipeline.dedupe.seen import SeenKey, first_copies, seen_key
from streams.pipeline.name.fingerprint import Matcher, build_matcher, load_catalog
from streams.pipeline.name.product import ProductName, name_product
from streams.pipeline.sessionize.sessions import (
    KeyedObservation,
    KeyState,
    SessionKey,
    SessionRules,
    SessionUpdate,
    build_session_rules,
    definition_rows,
    observe,
    sessionize_batch,
)

Decoder = Callable[[SourceRecord], SourceDecoded]

ADMIT_STAGE = "admit"


@dataclass(frozen=True, slots=True)
class IngestRules:
    """The rules at the door and after it, built once from settings."""

    door: Door
    limits: SizeLimits
    invalid_ratio: InvalidRatioLimit
    sealer: Sealer | None
    sessions: SessionRules
    definitions: list[tuple[str, str, Decimal, Decimal, Decimal]]
    writer_id: str = "seatmeter"
    directory_refresh: timedelta = timedelta(minutes=5)
    letter_limit: int = DEFAULT_LETTER_LIMIT
    poison_attempts: int = 3
    work: WorkLimits = DEFAULT_WORK_LIMITS


def build_ingest_rules(settings: Settings, key: PseudonymKey) -> IngestRules:
    ingest, scope = settings.ingest, settings.scope
    policy = DoorPolicy(
        scope=scope,
        allowed_clock_skew=timedelta(seconds=ingest.allowed_clock_skew_seconds),
        allowed_lateness=timedelta(seconds=ingest.allowed_lateness_seconds),
    )
    return IngestRules(
        door=Door(policy),
        limits=SizeLimits(ingest.max_message_bytes, ingest.max_event_bytes),
        invalid_ratio=InvalidRatioLimit(ingest.invalid_ratio_max, ingest.invalid_ratio_window),
        sealer=None if settings.privacy.store_raw_identities else Sealer(key),
        sessions=build_session_rules(settings.sessions, ingest.allowed_lateness_seconds),
        definitions=definition_rows(settings.sessions),
        writer_id=settings.worker.app_id,
        directory_refresh=timedelta(seconds=scope.directory_refresh_seconds),
        letter_limit=settings.kafka.max_message_bytes,
        poison_attempts=ingest.poison_attempts,
        work=WorkLimits(
            ingest.max_events_per_message,
            ingest.max_event_span_minutes,
            ingest.max_rows_per_message,
            ingest.max_rows_per_batch,
        ),
    )


@dataclass(frozen=True, slots=True)
class BatchRead:
    """A batch after decoding, the rules at the door and naming, before duplicates are dropped.

    ``admitted`` are the events the door let in; ``usages`` holds, item for item, each one's
    placed usage, or ``None`` for background software the catalog names nothing; ``keys`` and
    ``observed`` hold, item for item too, the seen key each is counted under and its session
    observation (``None`` where the usage is), each made once per event."""

    records: int
    fresh: list[SourceRecord]
    admitted: list[tuple[UsageEvent, SourceRecord]]
    usages: list[PlacedUsage | None]
    rejections: list[Rejection]
    late: list[Rejection]
    out_of_scope: Counter[str]
    health: list[AgentHealth]
    keys: list[SeenKey] = field(default_factory=list)
    observed: list[KeyedObservation | None] = field(default_factory=list)

    def seen_keys(self) -> list[SeenKey]:
        """The keys the admitted events are counted under."""
        return self.keys

    def seen_keys_by_partition(self) -> dict[SourcePartition, list[SeenKey]]:
        """What to ask the partition's record of counted events before planning."""
        by_partition: dict[SourcePartition, list[SeenKey]] = defaultdict(list)
        for key, (_, record) in zip(self.seen_keys(), self.admitted, strict=True):
            by_partition[(record.topic, record.partition)].append(key)
        return dict(by_partition)

    def state_keys(self) -> list[str]:
        """The session state keys the batch may touch, sorted: what to read before planning."""
        return sorted({o.key.state_key(o.partition) for o in self.observed if o is not None})


@dataclass(frozen=True, slots=True)
class Known:
    """What was fetched for a read batch: per partition, which of its seen keys that partition
    already counted; the keys the warehouse counted under any partition; the session states."""

    seen: Mapping[SourcePartition, AbstractSet[SeenKey]] = field(default_factory=dict)
    counted_elsewhere: AbstractSet[SeenKey] = frozenset()
    states: Mapping[str, KeyState] = field(default_factory=dict)


NOTHING_KNOWN = Known()


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
class BatchPlan:
    """Everything a batch writes, in the terms of the sinks; ``step`` keeps the counts."""

    step: IngestStep
    dead_letters: list[DeadLetter]
    late_letters: list[DeadLetter]
    session_updates: list[SessionUpdate]
    arrivals: list[Arrival]

    @property
    def session_rows(self) -> list[SessionRow]:
        return [row for update in self.session_updates for row in update.rows]

    @property
    def seen_marks(self) -> dict[SourcePartition, int]:
        """The offsets the record of counted events may move to: partitions that wrote rollups."""
        with_rows = {(r.source_topic, r.source_partition) for r in self.step.rollups}
        return {p: o for p, o in self.step.last_offsets.items() if p in with_rows}


def read_batch(
    records: Sequence[SourceRecord],
    written: Mapping[SourcePartition, int],
    key: PseudonymKey,
    door: Door,
    now: datetime,
    decode: Decoder = decode_agent_usage,
    max_message_bytes: int = DEFAULT_LIMITS.max_message_bytes,
    departments: Mapping[str, str] | None = None,
    matcher: Matcher | None = None,
    work: WorkLimits = DEFAULT_WORK_LIMITS,
) -> BatchRead:
    """Skip what the warehouse holds, decode, apply the rules at the door and name products.
    ``decode`` is the source's decoder; ``departments`` maps user pseudonyms to departments when
    the scope is by department; a message asking for more ``work`` than allowed is dead-lettered whole."""
    fresh = unwritten(records, written)
    batch = BatchRead(len(records), fresh, [], [], [], [], Counter(), [])
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
    named = matcher or default_matcher()
    for event, record in batch.admitted:
        name = name_product(event, named)
        usage = None if name is None else _place(event, name, record, key)
        batch.usages.append(usage)
        batch.keys.append(seen_key(event_minute_ms(event), event.event_id))
        batch.observed.append(None if usage is None else _observation(usage))
    return batch


def _judge(batch: BatchRead, event: UsageEvent, record: SourceRecord, judgement: Judgement) -> None:
    if judgement.verdict is Verdict.ADMIT:
        batch.admitted.append((event, record))
    elif judgement.verdict is Verdict.OUT_OF_SCOPE:
        batch.out_of_scope[judgement.reason] += 1
    else:
        target = batch.late if judgement.verdict is Verdict.LATE else batch.rejections
        target.append(_set_aside(record, event, judgement.reason))


def count_batch(batch: BatchRead, known: Known = NOTHING_KNOWN) -> IngestStep:
    """Drop duplicates (of this batch, of what each partition counted before, and the keys the
    warehouse counted under any partition) and aggregate what is left."""
    keyed = list(zip(batch.seen_keys(), batch.admitted, batch.usages, strict=True))
    kept, counted = first_copies(
        [(key, (record.topic, record.partition)) for key, (_, record), _ in keyed],
        known.seen,
        known.counted_elsewhere,
    )
    usages = [usage for (_, _, usage), keep in zip(keyed, kept, strict=True) if keep and usage is not None]
    observations = [o for o, keep in zip(batch.observed, kept, strict=True) if keep and o is not None]
    marks = last_offsets(batch.fresh)
    return IngestStep(
        rollups=aggregate_usage(usages, marks),
        observations=observations,
        rejections=batch.rejections,
        late=batch.late,
        out_of_scope=batch.out_of_scope,
        duplicates=len(batch.admitted) - sum(kept),
        background=sum(1 for (_, _, usage), keep in zip(keyed, kept, strict=True) if keep and usage is None),
        counted=counted,
        health=batch.health,
        events=len(usages),
        already_written=batch.records - len(batch.fresh),
        last_offsets=marks,
        invalid_by_partition=Counter((t, p) for t, p, _ in {_coordinates(r) for r in batch.rejections}),
        messages_by_partition=Counter((r.topic, r.partition) for r in batch.fresh),
    )


def plan_batch(
    records: Sequence[SourceRecord],
    batch: BatchRead,
    known: Known,
    rules: IngestRules,
    now: datetime,
    stamped: datetime | None = None,
) -> BatchPlan:
    """Everything one batch writes: ``records`` are the batch as delivered (for arrivals),
    ``stamped`` the time dead letters carry (``now`` unless a test pins it)."""
    step = count_batch(batch, known)
    at = stamped or now
    return BatchPlan(
        step=step,
        dead_letters=[to_dead_letter(r, at, rules.sealer, rules.letter_limit) for r in step.rejections],
        late_letters=[to_dead_letter(r, at, rules.sealer, rules.letter_limit) for r in step.late],
        session_updates=sessionize_batch(known.states, step.observations, rules.sessions, epoch_ms(now))
        if step.observations
        else [],
        arrivals=batch_arrivals(records, step.observations, step.health, rules.writer_id, now),
    )


def ingest_batch(
    records: Sequence[SourceRecord],
    written: Mapping[SourcePartition, int],
    key: PseudonymKey,
    door: Door,
    now: datetime,
    decode: Decoder = decode_agent_usage,
    max_message_bytes: int = DEFAULT_LIMITS.max_message_bytes,
    known: Known = NOTHING_KNOWN,
    departments: Mapping[str, str] | None = None,
    matcher: Matcher | None = None,
    work: WorkLimits = DEFAULT_WORK_LIMITS,
) -> IngestStep:
    """``read_batch`` then ``count_batch``, for callers that look nothing up between."""
    read = read_batch(records, written, key, door, now, decode, max_message_bytes, departments, matcher, work)
    return count_batch(read, known)


@lru_cache(maxsize=1)
def default_matcher() -> Matcher:
    """The bundled catalog, compiled once per process."""
    return build_matcher(load_catalog())


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
