"""The Faust wiring: topics to agents to runners. No business logic lives here.

Delivery is at-least-once. ``take_events`` acks a batch only after the loop body returns, and
Faust commits acked offsets every ``worker.commit_interval_seconds``. If a batch cannot be
written after the retry budget, the process exits at once (``supervision.or_exit``) so that the
batch is never acked; the orchestrator restarts it and the batch is read again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust

from schemas.records import SourceRecord
from schemas.settings import KafkaSettings, Settings
from sinks.clickhouse.warehouse import Warehouse
from sinks.kafka.client import read_offsets
from sinks.local_state.seen_events import SeenEventStore
from streams.pipeline.admit.progress import OffsetGap
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.batch import IngestRules, build_ingest_rules
from streams.pipeline.dead_letters.seal import Sealer
from streams.runtime import metrics
from streams.runtime.alerting import AlertEvaluator
from streams.runtime.catalog_source import CatalogWatcher, CorrectionsFollower
from streams.runtime.duplicate_watch import DuplicateCheck
from streams.runtime.faust_compat import (
    FaustConsumerView,
    TableSessionStates,
    commit_tracker,
    to_source_record,
    track_commits,
)
from streams.runtime.inserter import RetryingInserter
from streams.runtime.publish import alert_notifier, publish_alerts, publish_letters, raw_topic
from streams.runtime.run_tracking import RunTracker
from streams.runtime.runner import DeadLetterMirror, ReferenceProcessor, UsageProcessor
from streams.runtime.sources import ReferenceSourceSpec, UsageSourceSpec, reference_sources, usage_sources
from streams.runtime.supervision import StallCheck, StallWatchdog, or_exit
from streams.runtime.tuning import app_options

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerParts:
    """What the agents of one worker share."""

    settings: Settings
    inserter: RetryingInserter
    warehouse: Warehouse
    key: PseudonymKey
    rules: IngestRules
    seen: SeenEventStore
    catalog: CatalogWatcher
    watchdog: StallWatchdog


def create_app(
    settings: Settings,
    key: PseudonymKey,
    warehouse: Warehouse,
    seen: SeenEventStore,
    catalog: CatalogWatcher,
    corrections: CorrectionsFollower,
) -> faust.App:
    """A worker app over an opened warehouse, the local record of counted events, and the
    catalog with its corrections already read (``corrections`` follows the topic from there)."""
    app = faust.App(settings.worker.app_id, **app_options(settings))
    track_commits(app)
    watchdog = StallWatchdog(settings.worker.stall_timeout_seconds)
    inserter = RetryingInserter(warehouse, settings.warehouse, on_retry=watchdog.waiting_on_infrastructure)
    parts = WorkerParts(settings, inserter, warehouse, key, build_ingest_rules(settings, key), seen, catalog, watchdog)
    sources = usage_sources(settings)
    processors = [_add_usage_agent(app, source, parts) for source in sources]
    written = dict(zip((s.topic for s in sources), processors, strict=True))
    _add_stall_check(app, parts, written if settings.worker.fill_offset_gaps else {})
    for reference in reference_sources(settings, key):
        _add_reference_agent(app, reference, parts)
    _add_dead_letter_mirror(app, parts)
    app.task(corrections.follow)
    _add_leader_timers(app, settings, warehouse)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _forget(app: faust.App, revoked: Any, **_: Any) -> None:
        for processor in processors:
            processor.forget_progress()
        watchdog.reassigned()

    return app


def _add_usage_agent(app: faust.App, source: UsageSourceSpec, parts: WorkerParts) -> UsageProcessor:
    """One agent per source topic, with that source's decoder, dead-letter and late topics."""
    kafka, worker = parts.settings.kafka, parts.settings.worker
    about = f"Open usage sessions per device, user and product, from {source.topic}."
    sessions = TableSessionStates(app, _state_table(app, f"sessions-{source.name}", kafka.topic_partitions, about))
    runs, tracker = None, None
    if source.tracks_runs:
        about = f"Processes running per host (differential results), from {source.topic}."
        runs = TableSessionStates(app, _state_table(app, f"runs-{source.name}", kafka.topic_partitions, about))
        tracker = RunTracker(runs, parts.rules.sessions.horizon_ms, Sealer(parts.key))
    processor = UsageProcessor(
        parts.inserter,
        parts.warehouse,
        parts.key,
        parts.rules,
        source.decode,
        parts.seen,
        parts.catalog,
        sessions,
        send_dead_letters=partial(publish_letters, raw_topic(app, source.topic + kafka.dead_letter_suffix)),
        send_late=partial(publish_letters, raw_topic(app, source.topic + kafka.late_suffix)),
        read_back=partial(_read_back, kafka, worker.batch_max_messages, parts.watchdog)
        if worker.fill_offset_gaps
        else None,
        dedupe_across_partitions=not source.keyed_by_device,
        runs=tracker,
    )

    async def ingest_usage(stream: Any) -> None:
        async for events in stream.take_events(worker.batch_max_messages, within=worker.batch_max_seconds):
            records = [to_source_record(e) for e in events]
            sessions.bind(events)
            if runs is not None:
                runs.bind(events)
            await or_exit(processor.process(records), parts.inserter.stop_retrying)
            if worker.fill_offset_gaps:
                commit_tracker(app).mark_written(await processor.written_through(source.topic))
            _observe_lag(app, records, parts.watchdog)

    app.agent(raw_topic(app, source.topic), name=f"ingest-{source.name}")(ingest_usage)
    return processor


def _state_table(app: faust.App, name: str, partitions: int, about: str) -> Any:
    """Per-key state partitioned like the source topic, so it moves with its partition."""
    return app.Table(name, key_type=bytes, value_type=bytes, partitions=partitions, help=about)


async def _read_back(
    kafka: KafkaSettings, chunk: int, watchdog: StallWatchdog, gap: OffsetGap
) -> AsyncIterator[list[SourceRecord]]:
    """The skipped range, chunk by chunk. Once it is written, the processor's marks move past it
    and commits follow them (see ``streams.runtime.faust_compat``)."""
    async for records in read_offsets(kafka, gap.topic, gap.partition, gap.first, gap.last, chunk):
        watchdog.progressed()
        yield records


def _add_stall_check(app: faust.App, parts: WorkerParts, written: dict[str, UsageProcessor]) -> None:
    check = StallCheck(parts.watchdog, FaustConsumerView(app, set(parts.settings.kafka.usage_topics)), written)

    @app.task  # type: ignore[untyped-decorator]
    async def start_loop_guard() -> None:
        check.guard.start()

    app.timer(check.interval, name="stall-check")(check.run)


def _add_reference_agent(app: faust.App, source: ReferenceSourceSpec, parts: WorkerParts) -> None:
    settings, worker = parts.settings, parts.settings.worker
    dead_letters = raw_topic(app, source.topic + settings.kafka.dead_letter_suffix)
    processor = ReferenceProcessor(
        parts.inserter,
        source.decode,
        source.writer,
        parts.rules.sealer,
        partial(publish_letters, dead_letters),
        settings.kafka.max_message_bytes,
        settings.ingest.poison_attempts,
    )

    async def mirror_reference(stream: Any) -> None:
        async for events in stream.take_events(worker.batch_max_messages, within=worker.batch_max_seconds):
            records = [to_source_record(e) for e in events]
            await or_exit(processor.process(records), parts.inserter.stop_retrying)
            _observe_lag(app, records)

    app.agent(raw_topic(app, source.topic), name=f"mirror-{source.name}")(mirror_reference)


def _add_dead_letter_mirror(app: faust.App, parts: WorkerParts) -> None:
    kafka, worker = parts.settings.kafka, parts.settings.worker
    mirror = DeadLetterMirror(parts.inserter, parts.settings.ingest.poison_attempts)
    inputs = (*kafka.usage_topics, *kafka.reference_topics)

    @app.agent(raw_topic(app, *(t + kafka.dead_letter_suffix for t in inputs)), name="mirror-dead-letters")
    async def mirror_dead_letters(stream: Any) -> None:
        async for events in stream.take_events(worker.batch_max_messages, within=worker.batch_max_seconds):
            await or_exit(mirror.process([to_source_record(e) for e in events]), parts.inserter.stop_retrying)


def _add_leader_timers(app: faust.App, settings: Settings, warehouse: Warehouse) -> None:
    """Alert rules and the keying rule's watch, run by the leader only, so one worker speaks for the group."""
    topic = raw_topic(app, settings.alerts.topic)
    evaluator = AlertEvaluator(warehouse, settings.alerts, partial(publish_alerts, topic), alert_notifier(settings))

    async def evaluate_alerts() -> None:
        try:
            await evaluator.evaluate()
        except Exception:
            metrics.ALERT_EVALUATION_FAILURES.inc()
            log.exception("alert evaluation failed; it runs again at the next interval")

    app.timer(settings.alerts.evaluate_every_seconds, on_leader=True, name="evaluate-alerts")(evaluate_alerts)
    check = DuplicateCheck(warehouse)
    app.timer(settings.worker.duplicate_check_seconds, on_leader=True, name="duplicate-check")(check.run)


def _observe_lag(app: faust.App, records: list[SourceRecord], watchdog: StallWatchdog | None = None) -> None:
    """Lag after a finished batch; the watchdog learns where the batch left each partition."""
    last: dict[tuple[str, int], int] = {}
    for record in records:
        last[(record.topic, record.partition)] = record.offset
    for (topic, partition), offset in last.items():
        highwater = app.consumer.highwater(faust.types.TP(topic, partition))
        if highwater is not None:
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(max(highwater - offset - 1, 0))
    if watchdog is not None:
        watchdog.processed({partition: offset + 1 for partition, offset in last.items()})
