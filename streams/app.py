"""The Faust wiring: topics to agents to processors. No business logic lives here.

Delivery is at-least-once. ``take_events`` acks a batch only after the loop body returns, and
Faust commits acked offsets every ``worker.commit_interval_seconds``. If a batch cannot be
written after the retry budget, the process exits at once (``os._exit``) so that the batch is
never acked; the orchestrator restarts it and the batch is read again.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import sys
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust

from schemas.alerts import Alert
from schemas.records import DeadLetter, SourceRecord
from schemas.settings import KafkaSettings, Settings
from sinks.clickhouse.warehouse import Warehouse
from sinks.http.alert_webhook import post_alerts
from sinks.kafka.client import read_offsets
from sinks.kafka.security import tls_context
from sinks.local_state.seen_events import SeenEventStore
from streams.pipeline.admit.progress import OffsetGap
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.alerts.payload import alert_message, alertmanager_payload
from streams.pipeline.dead_letters.letters import dead_letter_headers, dead_letter_key
from streams.pipeline.dead_letters.seal import Sealer
from streams.pipeline.sessionize.sessions import state_partition
from streams.runtime import metrics
from streams.runtime.alerting import AlertEvaluator
from streams.runtime.catalog_source import CatalogWatcher
from streams.runtime.duplicate_watch import DuplicateCheck
from streams.runtime.faust_compat import CommitTrackingConsumer, commit_tracker, track_commits
from streams.runtime.run_tracking import RunTracker
from streams.runtime.runner import (
    DeadLetterMirror,
    IngestRules,
    InvalidInputFloodError,
    ReferenceProcessor,
    RetryingInserter,
    UsageProcessor,
    WarehouseUnavailableError,
    build_ingest_rules,
)
from streams.runtime.sources import ReferenceSourceSpec, UsageSourceSpec, reference_sources, usage_sources
from streams.runtime.supervision import LoopGuard, StallWatchdog

log = logging.getLogger(__name__)

EX_DATAERR = 65
EX_TEMPFAIL = 75
EX_SOFTWARE = 70


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server.strip()]


def broker_credentials(kafka: KafkaSettings) -> faust.auth.Credentials | None:
    """Faust's form of the security settings; it hands them to every consumer and producer it makes."""
    context = tls_context(kafka)
    if kafka.uses_sasl:
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context else None


def to_source_record(event: Any) -> SourceRecord:
    message = event.message
    headers = message.headers or ()
    if isinstance(headers, dict):
        headers = headers.items()
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        value=message.value or b"",
        key=message.key,
        headers=tuple((str(k), bytes(v or b"")) for k, v in headers),
    )


def create_app(
    settings: Settings, key: PseudonymKey, warehouse: Warehouse, seen: SeenEventStore, catalog: CatalogWatcher
) -> faust.App:
    """A worker app over an opened warehouse, the local record of counted events and the catalog."""
    worker = settings.worker
    app = faust.App(
        worker.app_id,
        broker=broker_urls(settings.kafka.bootstrap_servers),
        broker_credentials=broker_credentials(settings.kafka),
        datadir=str(worker.data_dir),
        store="rocksdb://",
        web_enabled=False,
        topic_partitions=settings.kafka.topic_partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        broker_commit_interval=worker.commit_interval_seconds,
        broker_commit_every=max(worker.batch_max_messages * 4, 10_000),
        broker_session_timeout=worker.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, worker.session_timeout_seconds / 3),
        stream_buffer_maxsize=max(worker.batch_max_messages * 2, 4096),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=settings.kafka.max_message_bytes,
    )
    track_commits(app)
    watchdog = StallWatchdog(worker.stall_timeout_seconds)
    inserter = RetryingInserter(warehouse, settings.warehouse, on_retry=watchdog.waiting_on_infrastructure)
    rules = build_ingest_rules(settings, key)
    kafka = settings.kafka
    parts = UsageProcessorParts(inserter, warehouse, key, rules, seen, catalog, watchdog)
    sources = usage_sources(settings)
    processors = [_add_usage_agent(app, source, parts, settings) for source in sources]
    written = {s.topic: p for s, p in zip(sources, processors, strict=True)} if worker.fill_offset_gaps else {}
    _add_stall_check(app, watchdog, set(kafka.usage_topics), written)
    for reference in reference_sources(settings, key):
        _add_reference_agent(app, reference, inserter, rules.sealer, settings)
    _add_catalog_agent(app, settings, catalog)
    _add_alert_evaluator(app, settings, warehouse)
    _add_duplicate_check(app, settings, warehouse)
    mirror = DeadLetterMirror(inserter, settings.ingest.poison_attempts)
    inputs = (*kafka.usage_topics, *kafka.reference_topics)
    dead_letter_topics = _raw_topic(app, *(t + kafka.dead_letter_suffix for t in inputs))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _forget(app: faust.App, revoked: Any, **_: Any) -> None:
        for processor in processors:
            processor.forget_progress()
        watchdog.reassigned()

    @app.agent(dead_letter_topics, name="mirror-dead-letters")
    async def mirror_dead_letters(stream: Any) -> None:
        async for events in stream.take_events(worker.batch_max_messages, within=worker.batch_max_seconds):
            await _or_exit(mirror.process([to_source_record(e) for e in events]), inserter.stop_retrying)

    return app


async def _publish(topic: Any, letters: Sequence[DeadLetter]) -> None:
    """Send and wait for the broker's acknowledgement of every one, before the batch may be acked."""
    pending = [
        await topic.send(key=dead_letter_key(d), value=d.payload, headers=dead_letter_headers(d)) for d in letters
    ]
    for future in pending:
        await future


@dataclass(frozen=True)
class UsageProcessorParts:
    """What every source's processor shares."""

    inserter: RetryingInserter
    warehouse: Warehouse
    key: PseudonymKey
    rules: IngestRules
    seen: SeenEventStore
    catalog: CatalogWatcher
    watchdog: StallWatchdog


def _add_usage_agent(
    app: faust.App, source: UsageSourceSpec, parts: UsageProcessorParts, settings: Settings
) -> UsageProcessor:
    """One agent per source topic, with that source's decoder, dead-letter and late topics."""
    kafka, worker = settings.kafka, settings.worker
    table = app.Table(
        f"sessions-{source.name}",
        key_type=bytes,
        value_type=bytes,
        partitions=kafka.topic_partitions,
        help=f"Open usage sessions per device, user and product, from {source.topic}.",
    )
    sessions = TableSessionStates(app, table)
    runs = _run_states(app, source, kafka.topic_partitions)
    processor = UsageProcessor(
        parts.inserter,
        parts.warehouse,
        parts.key,
        parts.rules,
        source.decode,
        parts.seen,
        parts.catalog,
        sessions,
        send_dead_letters=partial(_publish, _raw_topic(app, source.topic + kafka.dead_letter_suffix)),
        send_late=partial(_publish, _raw_topic(app, source.topic + kafka.late_suffix)),
        read_back=partial(_read_back, kafka, worker.batch_max_messages, parts.watchdog)
        if worker.fill_offset_gaps
        else None,
        dedupe_across_partitions=not source.keyed_by_device,
        runs=None if runs is None else RunTracker(runs, parts.rules.sessions.horizon_ms, Sealer(parts.key)),
    )

    async def ingest_usage(stream: Any) -> None:
        async for events in stream.take_events(worker.batch_max_messages, within=worker.batch_max_seconds):
            records = [to_source_record(e) for e in events]
            sessions.bind(events)
            if runs is not None:
                runs.bind(events)
            await _or_exit(processor.process(records), parts.inserter.stop_retrying)
            if worker.fill_offset_gaps:
                commit_tracker(app).mark_written(await processor.written_through(source.topic))
            _observe_lag(app, records, parts.watchdog)

    app.agent(_raw_topic(app, source.topic), name=f"ingest-{source.name}")(ingest_usage)
    return processor


def _run_states(app: faust.App, source: UsageSourceSpec, partitions: int) -> TableSessionStates | None:
    """The per-host run state of a source with differential rows, kept like the session state."""
    if not source.tracks_runs:
        return None
    table = app.Table(
        f"runs-{source.name}",
        key_type=bytes,
        value_type=bytes,
        partitions=partitions,
        help=f"Processes running per host (differential results), from {source.topic}.",
    )
    return TableSessionStates(app, table)


async def _read_back(
    kafka: KafkaSettings, chunk: int, watchdog: StallWatchdog, gap: OffsetGap
) -> AsyncIterator[list[SourceRecord]]:
    """The skipped range, chunk by chunk. Once it is written, the processor's marks move past it
    and commits follow them (see ``streams.runtime.faust_compat``)."""
    async for records in read_offsets(kafka, gap.topic, gap.partition, gap.first, gap.last, chunk):
        watchdog.progressed()
        yield records


class TableSessionStates:
    """Session state in a Faust table: RocksDB on the worker, a compacted changelog topic in
    Kafka, partitioned like the source topic so state moves with its partition on a rebalance.

    Faust routes a table key to the store and changelog partition of the *current event*, a
    context variable its stream sets per event. A batch holds several partitions' events, so
    before touching a key this sets the current event to one from that key's partition (the
    state key starts with it). ``put_many`` waits for the changelog to be acknowledged.
    """

    def __init__(self, app: faust.App, table: Any) -> None:
        self._app = app
        self._table = table
        self._events: dict[int, Any] = {}

    def bind(self, events: Sequence[Any]) -> None:
        self._events = {event.message.partition: event for event in events}

    async def get_many(self, state_keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for state_key in state_keys:
            self._enter_partition(state_partition(state_key))
            value = self._table.get(state_key.encode())
            if value is not None:
                found[state_key] = value
        return found

    async def put_many(self, items: Sequence[tuple[int, str, bytes]]) -> None:
        for partition, state_key, value in items:
            self._enter_partition(partition)
            self._table[state_key.encode()] = value
        await self._app.producer.flush()

    def _enter_partition(self, partition: int) -> None:
        faust.streams._current_event.set(weakref.ref(self._events[partition]))  # noqa: SLF001


def _add_stall_check(
    app: faust.App, watchdog: StallWatchdog, topics: set[str], written: dict[str, UsageProcessor]
) -> None:
    """Every few seconds: commits may pass what the warehouse holds (also where no batch comes
    any more, see ``streams.runtime.faust_compat``), and a worker that makes no progress exits."""
    interval = min(15.0, watchdog.timeout / 4)
    guard = LoopGuard(watchdog.timeout + 2 * interval, _exit_blocked)

    @app.task  # type: ignore[untyped-decorator]
    async def start_loop_guard() -> None:
        guard.start()

    @app.timer(interval, name="stall-check")  # type: ignore[untyped-decorator]
    async def check_for_stall() -> None:
        guard.beat()
        recovery = getattr(app.tables, "recovery", None)
        if app.rebalancing or (recovery is not None and not recovery.completed.is_set()):
            watchdog.reassigned()  # restoring state or moving partitions is not a stall
            return
        assigned = [tp for tp in app.consumer.assignment() if tp.topic in topics]
        try:
            ends = await asyncio.wait_for(app.consumer.highwaters(*assigned), 10) if assigned else {}
        except TimeoutError:
            log.warning("stall check: the consumer did not report its partitions' end offsets within 10 s")
            return
        tracker = commit_tracker(app)
        await _mark_written(tracker, written)
        highwater = {(tp.topic, tp.partition): ends[tp] for tp in assigned if ends.get(tp) is not None}
        committed = {(tp.topic, tp.partition): tracker.committed(tp) or 0 for tp in assigned}
        for (topic, partition), high in highwater.items():  # fresh while a batch cannot finish
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(max(high - committed[(topic, partition)], 0))
        waiting = watchdog.stalled(highwater, committed)
        if waiting:
            _print_tasks()
            _exit_without_ack(
                WorkerStalledError(f"{waiting} messages waiting, no offsets committed for {watchdog.timeout:g}s")
            )
        behind = watchdog.commits_behind(committed)
        if behind:
            where = ", ".join(f"{topic}:{partition} by {n}" for (topic, partition), n in sorted(behind.items()))
            _exit_without_ack(
                WorkerStalledError(
                    f"committed offsets stayed behind finished work for {watchdog.timeout:g}s ({where}); "
                    "a restart commits again from the warehouse's marks"
                )
            )


async def _mark_written(tracker: CommitTrackingConsumer, written: dict[str, UsageProcessor]) -> None:
    for topic, processor in written.items():
        try:
            tracker.mark_written(await processor.written_through(topic))
        except Exception as exc:  # noqa: BLE001 - the warehouse may be down; the next check tries again
            log.warning("stall check: could not read how far %s is written: %s", topic, exc)


class WorkerStalledError(RuntimeError):
    """The agents stopped making progress with messages waiting (see ``streams.runtime.supervision``)."""


def _print_tasks() -> None:
    """Where every coroutine waits, to stderr: what a stall waited on, for the log."""
    log.critical("no progress: the stacks of the event loop's tasks follow")
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=sys.stderr)
    sys.stderr.flush()


def _exit_blocked(silent: float) -> None:
    """From the guard's thread: say where every thread is, then exit for a restart."""
    log.critical("stopping the worker: the event loop ran no stall check for %.0fs; thread stacks follow", silent)
    faulthandler.dump_traceback(all_threads=True)
    logging.shutdown()
    os._exit(EX_TEMPFAIL)


def _add_alert_evaluator(app: faust.App, settings: Settings, warehouse: Warehouse) -> None:
    """Alert rules, evaluated by the leader only, so one worker speaks for the group."""
    topic = _raw_topic(app, settings.alerts.topic)
    evaluator = AlertEvaluator(warehouse, settings.alerts, partial(_publish_alerts, topic), _notifier(settings))

    @app.timer(settings.alerts.evaluate_every_seconds, on_leader=True, name="evaluate-alerts")  # type: ignore[untyped-decorator]
    async def evaluate_alerts() -> None:
        try:
            await evaluator.evaluate()
        except Exception:
            metrics.ALERT_EVALUATION_FAILURES.inc()
            log.exception("alert evaluation failed; it runs again at the next interval")


def _add_duplicate_check(app: faust.App, settings: Settings, warehouse: Warehouse) -> None:
    check = DuplicateCheck(warehouse)

    @app.timer(settings.worker.duplicate_check_seconds, on_leader=True, name="duplicate-check")  # type: ignore[untyped-decorator]
    async def check_duplicates() -> None:
        await check.run()


async def _publish_alerts(topic: Any, alerts: Sequence[Alert]) -> None:
    pending = [await topic.send(key=key, value=value) for key, value in (alert_message(a) for a in alerts)]
    for future in pending:
        await future


def _notifier(settings: Settings) -> Callable[[Sequence[Alert]], Awaitable[None]]:
    secret = settings.alerts.webhook_url
    url = secret.get_secret_value() if secret else None

    async def notify(alerts: Sequence[Alert]) -> None:
        if url:
            payload = alertmanager_payload(alerts)
            await post_alerts(
                url, payload, settings.alerts.webhook_timeout_seconds, on_failure=metrics.WEBHOOK_FAILURES.inc
            )

    return notify


def _add_reference_agent(
    app: faust.App, source: ReferenceSourceSpec, inserter: RetryingInserter, sealer: Sealer | None, settings: Settings
) -> None:
    worker = settings.worker
    dead_letters = _raw_topic(app, source.topic + settings.kafka.dead_letter_suffix)
    processor = ReferenceProcessor(
        inserter,
        source.decode,
        source.writer,
        sealer,
        partial(_publish, dead_letters),
        settings.kafka.max_message_bytes,
        settings.ingest.poison_attempts,
    )

    async def mirror_reference(stream: Any) -> None:
        async for events in stream.take_events(worker.batch_max_messages, within=worker.batch_max_seconds):
            records = [to_source_record(e) for e in events]
            await _or_exit(processor.process(records), inserter.stop_retrying)
            _observe_lag(app, records)

    app.agent(_raw_topic(app, source.topic), name=f"mirror-{source.name}")(mirror_reference)


def _add_catalog_agent(app: faust.App, settings: Settings, catalog: CatalogWatcher) -> None:
    """Every worker reads the whole catalog corrections topic, not a consumer group's share: all
    of it now, before the first event is named, then what is published while the worker runs."""
    from sinks.kafka.client import catalog_topic
    from streams.runtime.catalog_source import CorrectionsFollower

    spec = catalog_topic(settings.catalog.topic, settings.kafka)
    follower = CorrectionsFollower(settings.kafka, spec, catalog)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(follower.catch_up())
    finally:
        loop.close()
    app.task(follower.follow)


def _raw_topic(app: faust.App, *names: str) -> Any:
    """Bytes in, bytes out: decoding is a stage of ours, so bad input reaches it and gets a reason."""
    return app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


async def _or_exit(work: Awaitable[None], stop_retrying: Callable[[], None]) -> None:
    """Finish the batch even if the agent is cancelled mid-way (a stop), or exit without acking it.

    Faust acks a ``take_events`` batch when the loop body is left, cancellation included, so a
    body cancelled during its insert would have its offsets committed with no rows written. A
    batch whose insert is failing is not retried through a stop: the worker exits (75) unacked.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        stop_retrying()
        await _finish(task)
        raise
    except Exception as exc:  # noqa: BLE001 - any failure must stop the batch being acked
        _exit_without_ack(exc)


async def _finish(task: asyncio.Future[None]) -> None:
    try:
        await task
    except Exception as exc:  # noqa: BLE001 - as above
        _exit_without_ack(exc)


def _exit_without_ack(exc: Exception) -> None:
    """Exit at once: leaving the loop body any other way would ack the batch. Faust would
    restart a crashed agent and carry on past the batch, so even a bug must end the process."""
    if isinstance(exc, WarehouseUnavailableError | InvalidInputFloodError | WorkerStalledError):
        log.critical("stopping the worker without acking the batch: %s", exc)
    else:
        log.critical("stopping the worker without acking the batch: unexpected error", exc_info=exc)
    logging.shutdown()
    os._exit(_exit_code(exc))


def _exit_code(exc: Exception) -> int:
    if isinstance(exc, InvalidInputFloodError):
        return EX_DATAERR
    if isinstance(exc, WarehouseUnavailableError | WorkerStalledError):
        return EX_TEMPFAIL
    return EX_SOFTWARE


def _observe_lag(app: faust.App, records: Sequence[SourceRecord], watchdog: StallWatchdog | None = None) -> None:
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
