"""A broker outage is told once, then summarized, instead of flooding the log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from streams.runtime.broker_log import CONNECTION_LOGGERS, BrokerOutageFilter, install_outage_filter

START = datetime(2026, 12, 3, 8, 0, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def line(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    args = ("127.0.0.1", 9092) if "%s" in message else None
    return logging.LogRecord("aiokafka.client", level, __file__, 1, message, args, None)


def run(messages_every: float, seconds: float, interval: float = 60.0) -> list[str]:
    clock = Clock()
    limiter = BrokerOutageFilter(interval, clock, lambda: START)
    passed = []
    while clock.now < seconds:
        record = line('Unable connect to "%s:%s": [Errno 111] Connection refused')
        if limiter.filter(record):
            passed.append(record.getMessage())
        clock.now += messages_every
    return passed


def test_an_outage_is_said_once_clearly_with_since_when():
    passed = run(messages_every=0.01, seconds=30)
    assert passed == [
        "the Kafka broker is unreachable since 08:00:05 UTC: "
        'Unable connect to "127.0.0.1:9092": [Errno 111] Connection refused'
    ]


def test_a_long_outage_gives_one_summary_a_minute_with_what_was_held_back():
    passed = run(messages_every=0.01, seconds=185)
    assert len(passed) == 4
    summary = passed[1]
    assert summary.startswith("the Kafka broker is still unreachable since 08:00:05 UTC; ")
    held_back = int(summary.split("; ")[1].split()[0])
    assert 5990 <= held_back <= 6000  # a minute of lines every 10 ms, less the one let through


def test_a_new_outage_after_a_quiet_interval_is_told_again():
    clock = Clock()
    limiter = BrokerOutageFilter(60, clock, lambda: START)
    assert limiter.filter(line("Unable connect to %s:%s"))
    clock.now = 200
    record = line("Unable connect to %s:%s")
    assert limiter.filter(record)
    assert "unreachable since" in record.getMessage() and "still" not in record.getMessage()


@pytest.mark.parametrize(
    ("message", "level"),
    [
        pytest.param("Discovered coordinator 1 for group g", logging.INFO, id="not a connection error"),
        pytest.param("Unable connect to %s:%s", logging.DEBUG, id="below warning"),
        pytest.param("Heartbeat failed for group g because it is rebalancing", logging.WARNING, id="another warning"),
    ],
)
def test_other_lines_pass_untouched(message, level):
    limiter = BrokerOutageFilter(60, Clock(), lambda: START)
    for _ in range(3):
        record = line(message, level)
        assert limiter.filter(record)


def test_the_filter_sits_on_the_loggers_that_flood(caplog):
    shared = install_outage_filter()
    try:
        with caplog.at_level(logging.ERROR, logger="aiokafka"):
            for name in ("aiokafka.client", "aiokafka.conn"):
                for _ in range(50):
                    logging.getLogger(name).error("Unable connect to node with id %s: %s", 1, "refused")
        assert len(caplog.records) == 1
    finally:
        for name in CONNECTION_LOGGERS:
            logging.getLogger(name).removeFilter(shared)
