"""Offline replay: exported files through the worker's own pipeline into the warehouse, no Kafka.

The files become the messages of one virtual source partition, ``replay.<source>.<digest>``, the
digest naming their content: replaying the same files again is recognized by the warehouse's
record of progress and changes nothing. Batches go through the same ``UsageProcessor`` as a
streaming worker (decode, admit, dedupe, fingerprint, pseudonymize, aggregate, sessionize), with
session state and the record of counted events in local RocksDB instead of a Faust table.

Other files holding some of the same events (an overlapping export, CRLF line ends) have another
digest; each batch's ids are therefore looked up in the warehouse, so an event that any stream
or replay counted counts zero times. Local state is kept under the warehouse's id, so it is never
applied to another warehouse; a session key with no local state starts from the sessions the
warehouse holds. The pseudonym key must be the one the warehouse recorded for its key id.

Time is the data's own: the clock the door judges lateness and skew by is the newest event time
read so far (never the wall clock), so an old export is not "late" as a whole, while an event
that arrives more than the allowed lateness behind the ones before it is set aside, as it would
be when streamed. Dead letters and late events are written to the ``dead_letters`` table, stamped
with the wall clock (the time they were set aside, which their retention counts from). At
the end, ``pool_usage_1m`` is brought up to date and the alert rules are evaluated over the
whole replayed period, at the data's clock; alerts go to the ``alerts`` table only.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from schemas.alerts import Alert
from schemas.records import DeadLetter, SourceRecord
from schemas.settings import Settings
from sinks.clickhouse.identity import warehouse_id
from sinks.clickhouse.warehouse import Warehouse
from sinks.local_state.seen_events import SeenEventStore
from sinks.local_state.session_states import LocalSessionStates
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.dead_letters.seal import Sealer
from streams.pipeline.decode.process_runs import observed_ms
from streams.runtime.alerting import AlertEvaluator
from streams.runtime.catalog_source import CatalogWatcher
from streams.runtime.keys import bind_key_to_warehouse, load_pseudonym_key
from streams.runtime.run_tracking import RunTracker
from streams.runtime.runner import DeadLetterMirror, RetryingInserter, UsageProcessor, build_ingest_rules, utc_now
from streams.runtime.sources import UsageSourceSpec, usage_sources

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def source_spec(settings: Settings, name: str) -> UsageSourceSpec:
    specs = {spec.name: spec for spec in usage_sources(settings)}
    if name not in specs:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(sorted(specs))}")
    return specs[name]


def read_export(raw: bytes) -> bytes:
    """A file's content as exported tools write it: gunzipped when gzip, without a UTF-8 byte
    order mark (Windows tools add one). The same content so replays the same however packed."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.removeprefix(b"\xef\xbb\xbf")


def file_messages(raw: bytes, source: str) -> list[bytes]:
    """A file's messages: a whole-file JSON array gives one message per element (an Okta API
    page, a list of agent events; Entra records are wrapped as an Event Hubs body), any other
    whole-file JSON document is one message, and anything else is JSON Lines, one per line."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return [line for line in (part.strip() for part in raw.splitlines()) if line]
    if isinstance(document, list):
        if source == "entra":
            return [orjson.dumps({"records": [item]}) for item in document]
        return [orjson.dumps(item) for item in document]
    return [raw.strip()]


def replay_topic(source: str, files: Sequence[bytes]) -> str:
    digest = hashlib.sha256()
    for content in files:
        digest.update(hashlib.sha256(content).digest())
    return f"replay.{source}.{digest.hexdigest()[:16]}"


def replay_records(source: str, contents: Sequence[bytes]) -> list[SourceRecord]:
    topic = replay_topic(source, contents)
    messages = (m for content in contents for m in file_messages(content, source))
    return [SourceRecord(topic=topic, partition=0, offset=i, value=m) for i, m in enumerate(messages)]


def batches(records: Sequence[SourceRecord], size: int) -> Iterator[Sequence[SourceRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


@dataclass
class DataClock:
    """The newest event time seen so far: the replay's notion of now."""

    now: datetime = _NEVER
    earliest: datetime | None = None

    def __call__(self) -> datetime:
        return self.now

    def advance(self, times: Iterable[datetime]) -> None:
        seen = list(times)
        if seen:
            self.now = max(self.now, *seen)
            self.earliest = min([*seen, *([self.earliest] if self.earliest else [])])


@dataclass
class ReplaySummary:
    topic: str = ""
    messages: int = 0
    dead_letters: int = 0
    late: int = 0
    alerts: int = 0


def replay_files(settings: Settings, source: str, paths: Sequence[Path]) -> ReplaySummary:
    """Replay ``paths`` (in order) as ``source`` into the configured warehouse."""
    spec = source_spec(settings, source)
    contents = [read_export(path.read_bytes()) for path in paths]
    records = replay_records(source, contents)
    summary = ReplaySummary(topic=replay_topic(source, contents), messages=len(records))
    key = load_pseudonym_key(settings.privacy)
    warehouse = Warehouse(settings.warehouse)
    warehouse.open_blocking()
    try:
        warehouse.migrate_blocking()
        warehouse.run_blocking(bind_key_to_warehouse, key, settings.privacy)
        state_dir = replay_state_dir(settings, warehouse.run_blocking(warehouse_id))
        seen = SeenEventStore(state_dir / "seen-events")
        sessions = LocalSessionStates(state_dir / "sessions")
        runs = LocalSessionStates(state_dir / f"runs-{spec.name}") if spec.tracks_runs else None
        try:
            asyncio.run(_replay(settings, spec, key, records, warehouse, seen, sessions, summary, runs))
        finally:
            if runs is not None:
                runs.close()
            sessions.close()
            seen.close()
    finally:
        warehouse.close_blocking()
    return summary


def replay_state_dir(settings: Settings, warehouse: str) -> Path:
    """Local replay state belongs to one warehouse: kept under its id, so a fresh (or another)
    warehouse never continues sessions that were built for a different one."""
    return settings.worker.data_dir / "replay" / warehouse


async def _replay(
    settings: Settings,
    spec: UsageSourceSpec,
    key: PseudonymKey,
    records: Sequence[SourceRecord],
    warehouse: Warehouse,
    seen: SeenEventStore,
    sessions: LocalSessionStates,
    summary: ReplaySummary,
    runs: LocalSessionStates | None = None,
) -> None:
    inserter = RetryingInserter(warehouse, settings.warehouse)
    mirror = DeadLetterMirror(inserter)

    async def keep_dead_letters(letters: Sequence[DeadLetter]) -> None:
        summary.dead_letters += len(letters)
        await mirror.write(letters)

    async def keep_late(letters: Sequence[DeadLetter]) -> None:
        summary.late += len(letters)
        await mirror.write(letters)

    clock = DataClock()
    rules = build_ingest_rules(settings, key)
    processor = UsageProcessor(
        inserter,
        warehouse,
        key,
        rules,
        spec.decode,
        seen,
        CatalogWatcher(settings.catalog.overrides_file, settings.catalog.reload_check_seconds),
        sessions,
        send_dead_letters=keep_dead_letters,
        send_late=keep_late,
        read_back=None,
        clock=clock,
        dedupe_across_partitions=True,
        letter_clock=utc_now,
        seed_sessions=True,
        runs=None if runs is None else RunTracker(runs, rules.sessions.horizon_ms, Sealer(key)),
    )
    for batch in batches(records, settings.worker.batch_max_messages):
        clock.advance(_data_times(spec, batch))
        await processor.process(batch)
    if clock.earliest is not None:
        evaluator = AlertEvaluator(warehouse, settings.alerts, _kept_in_the_warehouse, _kept_in_the_warehouse)
        summary.alerts = len(await evaluator.evaluate(now=clock.now + timedelta(minutes=1), since=clock.earliest))


def _data_times(spec: UsageSourceSpec, batch: Sequence[SourceRecord]) -> list[datetime]:
    """The times a batch's messages speak for: their events', and an osquery line's own time."""
    return [_NEVER + timedelta(milliseconds=ms) for record in batch for ms in observed_ms(spec.decode(record))]


async def _kept_in_the_warehouse(alerts: Sequence[Alert]) -> None:
    """Offline replay has no Kafka and sends no webhooks: its alerts live in the ``alerts`` table."""
