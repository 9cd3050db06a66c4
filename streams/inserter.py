"""Writing to the warehouse with bounded retries, and which errors are infrastructure.

Infrastructure errors (the warehouse still failing after its retries, the broker unreachable, a
flood of invalid input) stop the worker without committing and never dead-letter anything. Rows
the client cannot encode for their columns are the data's fault: they are not retried, so the
batch can be split to find the message behind them (``streams.isolate``).
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable

from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DataError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_all,
    wait_exponential,
)

from schemas.settings import WarehouseSettings
from sinks.warehouse import Warehouse
from streams import metrics
from streams.isolate import SystemicFailureError

log = logging.getLogger(__name__)


class InvalidInputFloodError(RuntimeError):
    """Too much of a partition's recent input was invalid: stop rather than dead-letter it all."""


class WarehouseUnavailableError(RuntimeError):
    """Inserts kept failing past the retry budget: infrastructure, never a reason to dead-letter."""


class UnwritableRowsError(ValueError):
    """The client could not encode the rows for their columns: the data's fault, not the warehouse's,
    so it is not retried; the batch is split to find the message behind it (``streams.isolate``)."""


# Raised while rows are encoded, before anything is sent: retrying cannot help.
ENCODING_ERRORS = (DataError, OverflowError, TypeError, struct.error)


def is_infrastructure(exc: Exception) -> bool:
    """Errors that are nobody's message's fault: stop without committing, never dead-letter."""
    if isinstance(exc, KafkaError):
        return not isinstance(exc, MessageSizeTooLargeError)  # only a message's size is its own fault
    infrastructure = WarehouseUnavailableError | InvalidInputFloodError | SystemicFailureError | OSError | TimeoutError
    return isinstance(exc, infrastructure)


class RetryingInserter:
    """Runs one insert with exponential backoff capped at ``retry_backoff_max_seconds``, counting
    every failure, until both ``insert_retries`` and ``insert_give_up_seconds`` are spent.

    ``on_retry`` is told of every retry: the stall watchdog must not restart a worker that waits
    on a warehouse outage, as a restart cannot end it (the give-up budget decides instead)."""

    def __init__(
        self, warehouse: Warehouse, settings: WarehouseSettings, on_retry: Callable[[], None] = lambda: None
    ) -> None:
        self._warehouse = warehouse
        self._settings = settings
        self._on_retry = on_retry

    async def insert(self, table: str, write: Callable[[Client], int]) -> int:
        started = time.perf_counter()
        retrying = AsyncRetrying(
            stop=stop_all(
                stop_after_attempt(self._settings.insert_retries + 1),
                stop_after_delay(self._settings.insert_give_up_seconds),
            ),
            wait=wait_exponential(multiplier=0.2, max=self._settings.retry_backoff_max_seconds),
            before_sleep=lambda state: self._on_failure(table, state),
            retry=retry_if_not_exception_type(ENCODING_ERRORS),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    rows = await self._warehouse.run(write)
        except ENCODING_ERRORS as exc:
            metrics.INSERT_ERRORS.labels(table).inc()
            raise UnwritableRowsError(f"rows for {table} do not fit its columns: {type(exc).__name__}") from exc
        except Exception as exc:
            metrics.INSERT_ERRORS.labels(table).inc()
            raise WarehouseUnavailableError(f"insert into {table} failed after retries: {exc}") from exc
        metrics.FLUSH_SECONDS.labels(table).observe(time.perf_counter() - started)
        metrics.ROWS_WRITTEN.labels(table).inc(rows)
        metrics.LAST_WRITE_TIMESTAMP.labels(table).set_to_current_time()
        return rows

    def _on_failure(self, table: str, state: RetryCallState) -> None:
        self._on_retry()
        metrics.INSERT_ERRORS.labels(table).inc()
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        log.warning("insert into %s failed (attempt %d), retrying: %s", table, state.attempt_number, error)
