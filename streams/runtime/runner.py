"""Batch runners: fetch what a batch's plan needs, plan it (pure), then carry the plan out.

A usage batch, in order:

1. fetch: the warehouse's progress marks (once per assignment), the directory when scoped by
   department, the catalog, osquery's run states; ``read_batch`` (pure) says what else to fetch:
   the seen keys of its events (local record), the keys counted under other partitions (SSO and
   replay only, one warehouse query), the session states of its keys (and, for replay, the
   warehouse's sessions of keys with no local state);
2. plan: ``plan_batch`` (pure) gives every row and letter to write;
3. apply: dead letters, then late letters, each acknowledged by Kafka; health rows; session
   rows, then the session states (durable), then the run states; then the rollups, which mark
   the batch written in the warehouse; then the local record of counted events and the arrivals.

Only then does the Faust loop body return, which acks the batch so its offsets can be committed.
A crash anywhere replays the batch; the warehouse's per-partition offsets make the replay a no-op.
A batch that fails for a reason other than infrastructure is split to find the message behind it,
which is set aside (``streams.runtime.isolate``), so no message can stop the worker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client

from schemas.catalog import Catalog
from schemas.moments import epoch_ms
from schemas.records import DeadLetter, SourceRecord
from sinks.clickhouse.reference_writers import DirectoryWriter, Versioned
from sinks.clickhouse.warehouse import Warehouse
from sinks.clickhouse.writers import (
    AgentHealthWriter,
    ArrivalWriter,
    CatalogProductWriter,
    DeadLetterWriter,
    ProductUsageWriter,
    UsageDefinitionWriter,
    UsageSessionWriter,
)
from sinks.local_state.seen_events import SeenEventStore
from streams.pipeline.admit.guard import InvalidRatioWindows, check_invalid_ratio
from streams.pipeline.admit.limits import within_row_budget
from streams.pipeline.admit.progress import OffsetGap, SourcePartition, offset_gaps, unwritten
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.batch import (
    BatchPlan,
    BatchRead,
    Decoder,
    IngestRules,
    Known,
    build_ingest_rules,
    plan_batch,
    read_batch,
)
from streams.pipeline.dead_letters.letters import (
    DEFAULT_LETTER_LIMIT,
    NotADeadLetterError,
    poison_rejection,
    read_dead_letter,
    to_dead_letter,
)
from streams.pipeline.dead_letters.seal import Sealer
from streams.pipeline.decode.process_runs import RunUpdate
from streams.pipeline.decode.reference import Decoded
from streams.pipeline.dedupe.seen import first_kept_day
from streams.pipeline.name.catalog_rows import catalog_product_rows
from streams.pipeline.sessionize.sessions import KeyState
from streams.runtime import metrics
from streams.runtime.catalog_source import CatalogWatcher
from streams.runtime.inserter import (
    InvalidInputFloodError,
    RetryingInserter,
    UnwritableRowsError,
    WarehouseUnavailableError,
    is_infrastructure,
)
from streams.runtime.isolate import process_isolating
from streams.runtime.lookups import WarehouseLookups
from streams.runtime.run_tracking import RunTracker

log = logging.getLogger(__name__)

__all__ = [
    "DeadLetterMirror",
    "InvalidInputFloodError",
    "ReferenceProcessor",
    "RetryingInserter",
    "UnwritableRowsError",
    "UsageProcessor",
    "WarehouseUnavailableError",
    "IngestRules",
    "build_ingest_rules",
]

SendDeadLetters = Callable[[Sequence[DeadLetter]], Awaitable[None]]
ReadBack = Callable[[OffsetGap], AsyncIterator[list[SourceRecord]]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SessionStateStore(Protocol):
    """Where session state lives between batches: a Faust table when streaming, a local
    RocksDB file for offline replay. ``put_many`` returns once the state is durable."""

    async def get_many(self, state_keys: Sequence[str]) -> dict[str, bytes]: ...

    async def put_many(self, items: Sequence[tuple[int, str, bytes]]) -> None: ...


class ReferenceWriter(Protocol):
    table: str

    def write(self, client: Client, changes: Sequence[Versioned]) -> int: ...


class UsageProcessor:
    """Usage batches of one source: decode, admit, pseudonymize, aggregate, set aside, write once."""

    def __init__(
        self,
        inserter: RetryingInserter,
        warehouse: Warehouse,
        key: PseudonymKey,
        rules: IngestRules,
        decode: Decoder,
        seen: SeenEventStore,
        catalog: CatalogWatcher,
        sessions: SessionStateStore,
        send_dead_letters: SendDeadLetters,
        send_late: SendDeadLetters,
        read_back: ReadBack | None,
        clock: Clock = utc_now,
        dedupe_across_partitions: bool = False,
        letter_clock: Clock | None = None,
        seed_sessions: bool = False,
        runs: RunTracker | None = None,
    ) -> None:
        self._inserter = inserter
        self._lookups = WarehouseLookups(warehouse, dedupe_across_partitions, seed_sessions, rules.sessions.horizon_ms)
        self._letter_clock = letter_clock or clock
        self._warehouse = warehouse
        self._key = key
        self._rules = rules
        self._decode = decode
        self._seen = seen
        self._catalog = catalog
        self._sessions = sessions
        self._session_writer = UsageSessionWriter()
        self._definitions_written = False
        self._catalog_recorded = ""
        self._reconciled: set[SourcePartition] = set()
        self._directory: dict[str, str] = {}
        self._directory_read_at: datetime | None = None
        self._send_dead_letters = send_dead_letters
        self._send_late = send_late
        self._read_back = read_back
        self._clock = clock
        self._runs = runs
        self._writer = ProductUsageWriter()
        self._health = AgentHealthWriter()
        self._written: dict[SourcePartition, int] = {}
        self._loaded_topics: set[str] = set()
        self._windows = InvalidRatioWindows()

    def forget_progress(self) -> None:
        """Drop cached offsets after a rebalance: another worker may have moved them on."""
        self._written.clear()
        self._loaded_topics.clear()
        self._reconciled.clear()

    async def written_through(self, topic: str) -> dict[SourcePartition, int]:
        """Per partition of ``topic``, the offset through which every message is written or set
        aside: offsets are written in order, a skipped range read back before what follows it."""
        await self._load_progress({topic})
        return {partition: offset for partition, offset in self._written.items() if partition[0] == topic}

    async def process(self, records: Sequence[SourceRecord]) -> None:
        """A batch, after any offsets the consumer skipped before it (see ``offset_gaps``)."""
        await self._load_progress({r.topic for r in records})
        if self._read_back is not None:
            for gap in offset_gaps(records, self._written):
                await self._fill(gap, self._read_back)
        await self._isolating(records)

    async def _isolating(self, records: Sequence[SourceRecord]) -> None:
        rules = self._rules
        await process_isolating(
            records,
            self._process,
            self._set_aside,
            rules.poison_attempts,
            is_infrastructure,
            rules.invalid_ratio.max_ratio,
        )

    async def _set_aside(self, record: SourceRecord, error: Exception, attempts: int) -> None:
        """Dead-letter a message that kept failing, and count its offset as done."""
        rules, rejection = self._rules, poison_rejection(record, error, attempts)
        letter = to_dead_letter(rejection, self._clock(), rules.sealer, rules.letter_limit)
        await self._send_dead_letters([letter])
        partition = (record.topic, record.partition)
        self._written[partition] = max(self._written.get(partition, -1), record.offset)
        note_poison(record, error, letter)

    async def _fill(self, gap: OffsetGap, read_back: ReadBack) -> None:
        log.warning(
            "%s:%d offsets %d..%d were not delivered before offset %d; reading them back",
            gap.topic, gap.partition, gap.first, gap.last, gap.last + 1,
        )  # fmt: skip
        metrics.OFFSET_GAPS.labels(gap.topic).inc()
        async for chunk in read_back(gap):
            metrics.OFFSET_GAP_MESSAGES.labels(gap.topic).inc(len(chunk))
            await self._isolating(chunk)

    async def _process(self, records: Sequence[SourceRecord]) -> None:
        now, rules = self._clock(), self._rules
        await self._reconcile_seen({(r.topic, r.partition) for r in records}, now)
        departments = await self._departments(now)
        matcher = self._catalog.current()
        await self._record_catalog(matcher.catalog)
        decode, run_updates = self._decode, list[RunUpdate]()
        if self._runs is not None:
            decode, run_updates = await self._runs.track(unwritten(records, self._written), self._decode, now)
        limit = rules.limits.max_message_bytes
        read = read_batch(
            records, self._written, self._key, rules.door, now, decode, limit, departments, matcher, rules.work
        )
        parts = within_row_budget(records, read.admitted, rules.work.max_batch_rows)
        if len(parts) > 1:
            metrics.BATCHES_SPLIT.labels(records[0].topic).inc()
            for part in parts:
                await self._process(part)
            return
        plan = plan_batch(records, read, await self._known(read, now), rules, now, self._letter_clock())
        flood = check_invalid_ratio(
            self._windows, plan.step.messages_by_partition, plan.step.invalid_by_partition, rules.invalid_ratio
        )
        if flood:
            raise InvalidInputFloodError(flood)
        await self._apply(plan, run_updates)
        self._count(records, plan)

    async def _known(self, read: BatchRead, now: datetime) -> Known:
        """What the plan reads: seen keys (local), keys counted elsewhere and session states."""
        seen = {p: self._seen.seen(p, keys) for p, keys in read.seen_keys_by_partition().items()}
        elsewhere = await self._lookups.counted_elsewhere(read)
        keys = read.state_keys()
        raw = await self._sessions.get_many(keys) if keys else {}
        states = {k: KeyState.from_bytes(v) for k, v in raw.items()}
        if keys:
            states = {**await self._lookups.seeded(set(keys) - set(states), epoch_ms(now)), **states}
        return Known(seen, elsewhere, states)

    async def _apply(self, plan: BatchPlan, run_updates: Sequence[RunUpdate]) -> None:
        """The plan's effects in the order of this module's docstring."""
        step, key_id = plan.step, self._key.recorded_id
        if plan.dead_letters:
            await self._send_dead_letters(plan.dead_letters)
        if plan.late_letters:
            await self._send_late(plan.late_letters)
        if step.health:
            await self._inserter.insert(self._health.table, lambda client: self._health.write(client, step.health))
        await self._write_sessions(plan)
        if self._runs is not None:
            await self._runs.save(run_updates)  # after the sessions it fed, before the rollups that mark the batch
        await self._inserter.insert(self._writer.table, lambda c: self._writer.write(c, step.rollups, key_id))
        self._seen.record(step.counted, plan.seen_marks)
        self._written.update(step.last_offsets)
        arrivals = plan.arrivals
        await self._inserter.insert("source_activity", lambda client: ArrivalWriter().write(client, arrivals))

    async def _record_catalog(self, catalog: Catalog) -> None:
        """Give the warehouse the catalog that names products, once per catalog version, so
        license pools can be matched to the products and suites they cover."""
        if catalog.version == self._catalog_recorded:
            return
        rows = catalog_product_rows(catalog)
        writer = CatalogProductWriter()
        await self._inserter.insert(writer.table, lambda client: writer.write(client, rows))
        self._catalog_recorded = catalog.version

    async def _write_sessions(self, plan: BatchPlan) -> None:
        """Session rows first, then the state that remembers them, both before the rollups that
        mark the batch written: a crash in between replays the batch, and the state's marks
        (or, if the state was not saved, the same computation) make the replay change nothing."""
        if not plan.step.observations:
            return
        if not self._definitions_written:
            rows = self._rules.definitions
            await self._inserter.insert(UsageDefinitionWriter.table, lambda c: UsageDefinitionWriter().write(c, rows))
            self._definitions_written = True
        updates, session_rows = plan.session_updates, plan.session_rows
        if session_rows:
            key_id = self._key.recorded_id
            writer = self._session_writer
            await self._inserter.insert(writer.table, lambda c: writer.write(c, session_rows, key_id))
        if updates:
            await self._sessions.put_many([(u.partition, u.state_key, u.state.to_bytes()) for u in updates])
        metrics.SESSION_KEYS_UPDATED.inc(len(updates))

    async def _departments(self, now: datetime) -> dict[str, str] | None:
        """The directory's departments, re-read from the warehouse now and then; only when scoped."""
        if not self._rules.door.policy.scope.uses_departments:
            return None
        if self._directory_read_at is None or now - self._directory_read_at > self._rules.directory_refresh:
            self._directory = await self._warehouse.run(DirectoryWriter().departments)
            self._directory_read_at = now
        return self._directory

    async def _reconcile_seen(self, partitions: set[SourcePartition], now: datetime) -> None:
        """Bring the local record of counted events level with the warehouse, once per assignment."""
        since_day = first_kept_day(now, self._rules.door.policy.allowed_lateness)
        for partition in partitions - self._reconciled:
            warehouse_mark = self._written.get(partition, -1)
            local_mark = self._seen.mark(partition)
            if local_mark > warehouse_mark:
                self._seen.forget_partition(partition)
                local_mark = -1
            if local_mark < warehouse_mark:
                keys = await self._warehouse.run(self._writer.counted_event_keys, partition, local_mark, since_day)
                self._seen.record({partition: keys}, {partition: warehouse_mark})
            self._seen.expire(partition, since_day)
            self._reconciled.add(partition)

    async def _load_progress(self, topics: set[str]) -> None:
        for topic in topics - self._loaded_topics:
            marks = await self._warehouse.run(self._writer.written_offsets, topic)
            self._written.update(marks)
            self._loaded_topics.add(topic)

    @staticmethod
    def _count(records: Sequence[SourceRecord], plan: BatchPlan) -> None:
        if not records:
            return
        step, letters, topic = plan.step, plan.dead_letters, records[0].topic
        metrics.MESSAGES_CONSUMED.labels(topic).inc(len(records))
        metrics.BATCH_MESSAGES.labels(topic).observe(len(records))
        metrics.EVENTS_CONSUMED.labels(topic).inc(step.events)
        metrics.MESSAGES_ALREADY_WRITTEN.labels(topic).inc(step.already_written)
        metrics.EVENTS_LATE.labels(topic).inc(len(step.late))
        metrics.EVENTS_DUPLICATE.labels(topic).inc(step.duplicates)
        for rule, count in step.out_of_scope.items():
            metrics.EVENTS_OUT_OF_SCOPE.labels(topic, rule).inc(count)
        for letter in letters:
            metrics.EVENTS_INVALID.labels(topic, letter.stage).inc()
            metrics.DEAD_LETTERS.labels(topic, letter.stage).inc()


class DeadLetterMirror:
    """Copies dead letters into the warehouse; the table collapses copies of one dead letter.

    A dead letter the warehouse refuses is left on its topic (where ``seatmeter dead-letters``
    still reads it) with a log line and a count, never a reason to stop mirroring the rest."""

    def __init__(self, inserter: RetryingInserter, attempts: int = 3) -> None:
        self._inserter = inserter
        self._writer = DeadLetterWriter()
        self._attempts = attempts

    async def process(self, records: Sequence[SourceRecord]) -> None:
        """Messages of a dead-letter topic."""
        await process_isolating(records, self._mirror, self._leave, self._attempts, is_infrastructure)

    async def write(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            await self._inserter.insert(self._writer.table, lambda client: self._writer.write(client, letters))

    async def _mirror(self, records: Sequence[SourceRecord]) -> None:
        await self.write([letter for letter in map(_readable_letter, records) if letter is not None])

    async def _leave(self, record: SourceRecord, error: Exception, attempts: int) -> None:
        metrics.DEAD_LETTERS_NOT_MIRRORED.labels(record.topic).inc()
        log.error(
            "dead letter %s:%d@%d is not mirrored to the warehouse (%d attempts): %s; it stays on its topic",
            record.topic, record.partition, record.offset, attempts, error,
        )  # fmt: skip


def _readable_letter(record: SourceRecord) -> DeadLetter | None:
    try:
        return read_dead_letter(record.value, record.headers)
    except NotADeadLetterError as exc:
        log.warning(
            "skipping %s:%d@%d on the dead-letter topic: %s", record.topic, record.partition, record.offset, exc
        )
        return None


class ReferenceProcessor:
    """Reference-data batches (inventory, entitlements, directory): decode, dead-letter, mirror."""

    def __init__(
        self,
        inserter: RetryingInserter,
        decode: Callable[[SourceRecord], Decoded[Any]],
        writer: ReferenceWriter,
        sealer: Sealer | None,
        send_dead_letters: SendDeadLetters,
        letter_limit: int = DEFAULT_LETTER_LIMIT,
        poison_attempts: int = 3,
        clock: Clock = utc_now,
    ) -> None:
        self._inserter = inserter
        self._decode = decode
        self._writer = writer
        self._sealer = sealer
        self._letter_limit = letter_limit
        self._poison_attempts = poison_attempts
        self._send_dead_letters = send_dead_letters
        self._clock = clock

    async def process(self, records: Sequence[SourceRecord]) -> None:
        await process_isolating(records, self._process, self._set_aside, self._poison_attempts, is_infrastructure)

    async def _set_aside(self, record: SourceRecord, error: Exception, attempts: int) -> None:
        rejection = poison_rejection(record, error, attempts)
        letter = to_dead_letter(rejection, self._clock(), self._sealer, self._letter_limit)
        await self._send_dead_letters([letter])
        note_poison(record, error, letter)

    async def _process(self, records: Sequence[SourceRecord]) -> None:
        now = self._clock()
        changes: list[Versioned] = []
        letters: list[DeadLetter] = []
        for record in records:
            decoded = self._decode(record)
            letters.extend(to_dead_letter(r, now, self._sealer, self._letter_limit) for r in decoded.rejections)
            if decoded.change is not None:
                changes.append(Versioned(decoded.change, record.offset, now))
        if letters:
            await self._send_dead_letters(letters)
        await self._inserter.insert(self._writer.table, lambda client: self._writer.write(client, changes))
        if records:
            topic = records[0].topic
            metrics.MESSAGES_CONSUMED.labels(topic).inc(len(records))
            for letter in letters:
                metrics.EVENTS_INVALID.labels(topic, letter.stage).inc()
                metrics.DEAD_LETTERS.labels(topic, letter.stage).inc()


def note_poison(record: SourceRecord, error: Exception, letter: DeadLetter) -> None:
    """Count and log a message set aside; the log names the error's class, not its text."""
    metrics.POISON_MESSAGES.labels(record.topic, type(error).__name__).inc()
    metrics.DEAD_LETTERS.labels(record.topic, letter.stage).inc()
    log.error(
        "%s:%d@%d set aside to %s.dlq: %s", record.topic, record.partition, record.offset, record.topic, letter.reason
    )
