"""How the Faust app is configured from settings: brokers, credentials, batching and commits."""

from __future__ import annotations

import gc
from typing import Any

import faust

from schemas.settings import KafkaSettings, Settings
from sinks.kafka.security import tls_context


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


def app_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``faust.App``. Commits follow ``commit_interval_seconds`` rather than a
    message count (``commit_every`` is set past four batches); the stream buffer holds two batches;
    the producer waits for every in-sync replica, so an acknowledged dead letter is durable; the
    consumer fetches up to ``fetch_bytes_per_partition`` per partition, so batches follow each other
    without a wait on the broker."""
    worker = settings.worker
    return {
        "broker": broker_urls(settings.kafka.bootstrap_servers),
        "broker_credentials": broker_credentials(settings.kafka),
        "datadir": str(worker.data_dir),
        "store": "rocksdb://",
        "web_enabled": False,
        "topic_partitions": settings.kafka.topic_partitions,
        "topic_replication_factor": settings.kafka.replication_factor,
        "broker_commit_interval": worker.commit_interval_seconds,
        "broker_commit_every": max(worker.batch_max_messages * 4, 10_000),
        "broker_session_timeout": worker.session_timeout_seconds,
        "broker_heartbeat_interval": min(3.0, worker.session_timeout_seconds / 3),
        "stream_buffer_maxsize": max(worker.batch_max_messages * 2, 4096),
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "producer_max_request_size": settings.kafka.max_message_bytes,
        "consumer_max_fetch_size": max(settings.kafka.fetch_bytes_per_partition, settings.kafka.max_message_bytes),
    }


def tune_garbage_collector(young_threshold: int) -> None:
    """Collect the youngest generation every ``young_threshold`` allocations instead of 700 and
    leave what start-up made (modules, catalog, clients) out of every collection: the hot path
    allocates many short-lived objects, which die by reference counting, not by collection."""
    gc.freeze()
    if young_threshold:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, oldest)
