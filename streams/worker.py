"""Start-up of one worker process: topics, migrations, metrics endpoint, then the Faust worker."""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal
from typing import Any

import faust
from prometheus_client import start_http_server

from schemas.settings import Settings
from sinks.clickhouse.warehouse import Warehouse
from sinks.kafka.client import alerts_topic, catalog_topic, ensure_topics, pipeline_topics
from sinks.local_state.seen_events import SeenEventStore
from streams.app import create_app
from streams.runtime.broker_log import install_outage_filter
from streams.runtime.catalog_source import CatalogWatcher, CorrectionsFollower
from streams.runtime.keys import PseudonymKeyMismatchError, bind_key_to_warehouse, load_pseudonym_key
from streams.runtime.supervision import ShutdownDeadline
from streams.runtime.tuning import tune_garbage_collector

log = logging.getLogger(__name__)

PAYLOAD_LOGGERS = (
    "faust.topics",
    "faust.transport.drivers.aiokafka",
    "aiokafka.producer.producer",
    "aiokafka.consumer",
)


def quiet_payload_loggers() -> None:
    """These libraries log whole message values at DEBUG, and values may hold identities."""
    for name in PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))


def run_worker(settings: Settings) -> None:
    """Blocks until the worker stops (SIGTERM/SIGINT finish the batch in hand first).

    ``kill -QUIT`` prints every thread's stack to stderr and the worker carries on, as a JVM
    does; it works even when the event loop is blocked (mode's SIGUSR1 needs a running loop)."""
    faulthandler.register(signal.SIGQUIT, all_threads=True, chain=False)
    key = load_pseudonym_key(settings.privacy)
    topics = [*pipeline_topics(settings.kafka), alerts_topic(settings.alerts.topic, settings.kafka)]
    _run_once(ensure_topics(settings.kafka, topics))
    warehouse = Warehouse(settings.warehouse)
    warehouse.open_blocking()
    applied = warehouse.migrate_blocking()
    log.info("warehouse ready; migrations applied now: %s", [m.name for m in applied] or "none")
    try:
        warehouse.run_blocking(bind_key_to_warehouse, key, settings.privacy)
    except PseudonymKeyMismatchError:
        warehouse.close_blocking()
        raise
    if settings.metrics.enabled:
        start_http_server(settings.metrics.port, addr=settings.metrics.host)
    asyncio.set_event_loop(asyncio.new_event_loop())
    seen = SeenEventStore(settings.worker.data_dir / "seen-events")
    catalog = CatalogWatcher(settings.catalog.overrides_file, settings.catalog.reload_check_seconds)
    log.info("catalog %s loaded", catalog.matcher.catalog.version)
    corrections = CorrectionsFollower(settings.kafka, catalog_topic(settings.catalog.topic, settings.kafka), catalog)
    _run_once(corrections.catch_up())  # all published corrections, before the first event is named
    app = create_app(settings, key, warehouse, seen, catalog, corrections)
    quiet_payload_loggers()
    install_outage_filter()
    tune_garbage_collector(settings.worker.gc_young_threshold)
    try:
        deadline = ShutdownDeadline(settings.worker.shutdown_timeout_seconds)
        StoppingWorker(app, deadline, loglevel=settings.worker.log_level).execute_from_commandline()
    finally:
        seen.close()
        warehouse.close_blocking()


class StoppingWorker(faust.Worker):
    """Faust's worker, with a deadline on stopping once a stop has begun."""

    def __init__(self, app: faust.App, deadline: ShutdownDeadline, **options: Any) -> None:
        super().__init__(app, **options)
        self._deadline = deadline

    async def on_stop(self) -> None:
        self._deadline.start()
        await super().on_stop()


def _run_once(coroutine: object) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coroutine)  # type: ignore[arg-type]
    finally:
        loop.close()
