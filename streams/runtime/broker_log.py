"""One clear line when the broker is unreachable, then a summary now and then, instead of a flood.

During a broker outage aiokafka logs every reconnection attempt of every client (about 6,700
"Unable connect" lines a minute from one worker). ``BrokerOutageFilter`` lets the first such line
through, rewritten to say what is wrong and since when, then one summary per ``interval`` with
how many it held back. A quiet ``interval`` with no connection error ends the outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

CONNECTION_LOGGERS = (
    "aiokafka",
    "aiokafka.client",
    "aiokafka.conn",
    "aiokafka.cluster",
    "aiokafka.consumer.consumer",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.producer",
    "aiokafka.producer.sender",
    "aiokafka.admin.client",
    "faust.transport.drivers.aiokafka",
)
CONNECTION_SIGNS = (
    "unable connect",
    "unable to connect",
    "unable to bootstrap",
    "unable to update metadata",
    "unable to request metadata",
    "connection at",
    "connect attempt",
    "kafkaconnectionerror",
    "nodenotreadyerror",
    "connection refused",
)


def is_connection_error(message: str) -> bool:
    folded = message.casefold()
    return any(sign in folded for sign in CONNECTION_SIGNS)


class BrokerOutageFilter(logging.Filter):
    """Rate-limits repeated connection errors; the clocks are injected for tests."""

    def __init__(
        self,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self._interval, self._clock, self._wall = interval, clock, wall
        self._since: datetime | None = None
        self._last_error = self._last_report = 0.0
        self._held_back = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno < logging.WARNING or not is_connection_error(message):
            return True
        now = self._clock()
        if self._since is None or now - self._last_error > self._interval:
            self._since, self._held_back = self._wall(), 0
            self._rewrite(record, f"the Kafka broker is unreachable since {self._since:%H:%M:%S} UTC: {message}")
        elif now - self._last_report >= self._interval:
            summary = f"{self._held_back} more connection errors held back; last: {message}"
            self._rewrite(record, f"the Kafka broker is still unreachable since {self._since:%H:%M:%S} UTC; {summary}")
            self._held_back = 0
        else:
            self._held_back += 1
            self._last_error = now
            return False
        self._last_error = self._last_report = now
        return True

    @staticmethod
    def _rewrite(record: logging.LogRecord, message: str) -> None:
        record.msg, record.args, record.exc_info, record.exc_text = message, None, None, None


def install_outage_filter(interval: float = 60.0) -> BrokerOutageFilter:
    """One filter shared by every Kafka client logger, so the outage is told once, not per client."""
    shared = BrokerOutageFilter(interval)
    for name in CONNECTION_LOGGERS:
        logging.getLogger(name).addFilter(shared)
    return shared
