"""Kafka calls from the command line: a broker that cannot be reached or refuses us is one line, exit 3."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError

from schemas.settings import Settings
from sinks.kafka.security import connection_failure, describe

T = TypeVar("T")


def on_kafka(settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run one Kafka call; a broker that cannot be reached or refuses us (a wrong password, an
    untrusted certificate) ends the command with one line on stderr and exit code 3."""
    with _aiokafka_silenced():
        try:
            return asyncio.run(work)
        except (KafkaError, OSError) as exc:
            exit_refused(settings, exc)


def exit_refused(settings: Settings, exc: Exception) -> NoReturn:
    # The one line below is the report: aiokafka (and asyncio, for the probe's closed
    # connection) would otherwise log the same failure again as tracebacks on the way out.
    for name in ("aiokafka", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    if isinstance(exc, KafkaConnectionError):
        reason = asyncio.run(connection_failure(settings.kafka))
    else:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    typer.echo(f"error: Kafka at {describe(settings.kafka)}: {reason}", err=True)
    raise typer.Exit(3) from None


@contextmanager
def _aiokafka_silenced() -> Iterator[None]:
    """aiokafka logs every failed connection attempt; ``on_kafka`` reports the reason once."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
