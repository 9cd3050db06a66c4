"""Writing to the warehouse with bounded retries, and which errors are infrastructure.

Infrastructure errors (the warehouse still failing after its retries, the broker unreachable, a
flood of invalid input) stop the worker without committing and never dead-letter anything. Rows
the client cannot encode for their columns, or that the engine refuses for their values (a
number out of range, text it cannot parse, a violated constraint), are the data's fault: they
are not retried, so the batch can be split to find the message behind them
(``streams.runtime.isolate``). Every other engine error (an unknown table, a lost connection, a full
disk) is retried, then stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import struct
import time
from collections.abc import Callable

from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    stop_all,
    stop_any,
    wait_exponential,
)
from tenacity.stop import stop_base

from schemas.settings import WarehouseSettings
from sinks.clickhouse.warehouse import Warehouse
from streams.runtime import metrics
from streams.runtime.isolate import SystemicFailureError

log = logging.getLogger(__name__)


class InvalidInputFloodError(RuntimeError):
    """Too much of a partition's recent input was invalid: stop rather than dead-letter it all."""


class WarehouseUnavailableError(RuntimeError):
    """Inserts kept failing past the retry budget: infrastructure, never a reason to dead-letter."""


class UnwritableRowsError(ValueError):
    """The client could not encode the rows for their columns: the data's fault, not the warehouse's,
    so it is not retried; the batch is split to find the message behind it (``streams.runtime.isolate``)."""


# Raised while rows are encoded, before anything is sent: retrying cannot help.
ENCODING_ERRORS = (DataError, OverflowError, TypeError, struct.error)

# ClickHouse error codes for values the engine refuses while it reads inserted rows, the same
# on a server and in chDB: CANNOT_PARSE_TEXT 6, CANNOT_PARSE_QUOTED_STRING 26,
# CANNOT_PARSE_INPUT_ASSERTION_FAILED 27, CANNOT_PARSE_DATE 38, CANNOT_PARSE_DATETIME 41,
# TYPE_MISMATCH 53, ARGUMENT_OUT_OF_BOUND 69, CANNOT_CONVERT_TYPE 70, CANNOT_PARSE_NUMBER 72,
# INCORRECT_DATA 117, TOO_LARGE_STRING_SIZE 131, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE 321,
# VIOLATED_CONSTRAINT 469, UNKNOWN_ELEMENT_OF_ENUM 691.
DATA_ERROR_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 469, 691})

_ERROR_CODE = re.compile(r"\bcode: (\d+)", re.IGNORECASE)


def engine_error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code of an engine error (the HTTP client sets it; chDB only says it)."""
    if not isinstance(exc, DatabaseError):
        return None
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    found = _ERROR_CODE.search(str(exc))
    return int(found.group(1)) if found else None


def is_unwritable(exc: BaseException) -> bool:
    """The rows, not the warehouse, are at fault: no retry can write them."""
    return isinstance(exc, ENCODING_ERRORS) or engine_error_code(exc) in DATA_ERROR_CODES


def is_infrastructure(exc: Exception) -> bool:
    """Errors that are nobody's message's fault: stop without committing, never dead-letter."""
    if isinstance(exc, KafkaError):
        return not isinstance(exc, MessageSizeTooLargeError)  # only a message's size is its own fault
    infrastructure = WarehouseUnavailableError | InvalidInputFloodError | SystemicFailureError | OSError | TimeoutError
    return isinstance(exc, infrastructure)


class _WhenSet(stop_base):
    """Stop retrying once the event is set (tenacity's own takes a thread's event)."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._event.is_set()


def _reason(exc: BaseException) -> str:
    code = engine_error_code(exc)
    if code is None:
        return type(exc).__name__
    name = re.search(r"\(([A-Z_]+)\)", str(exc))
    return f"engine error {code}" + (f" ({name.group(1)})" if name else "")


class RetryingInserter:
    """Runs one insert with exponential backoff capped at ``retry_backoff_max_seconds``, counting
    every failure, until both ``insert_retries`` and ``insert_give_up_seconds`` are spent.

    ``on_retry`` is told of every retry: the stall watchdog must not restart a worker that waits
    on a warehouse outage, as a restart cannot end it (the give-up budget decides instead).
    ``stop_retrying`` ends the waiting early when the worker is told to stop."""

    def __init__(
        self, warehouse: Warehouse, settings: WarehouseSettings, on_retry: Callable[[], None] = lambda: None
    ) -> None:
        self._warehouse = warehouse
        self._settings = settings
        self._on_retry = on_retry
        self._stopping = asyncio.Event()

    def stop_retrying(self) -> None:
        """The worker is stopping: a failing insert is not tried again (its batch stays unacked),
        so a stop is not held up for the rest of an outage's give-up budget."""
        self._stopping.set()

    async def insert(self, table: str, write: Callable[[Client], int]) -> int:
        started = time.perf_counter()
        retrying = AsyncRetrying(
            stop=stop_any(
                stop_all(
                    stop_after_attempt(self._settings.insert_retries + 1),
                    stop_after_delay(self._settings.insert_give_up_seconds),
                ),
                _WhenSet(self._stopping),
            ),
            sleep=self._backoff,
            wait=wait_exponential(multiplier=0.2, max=self._settings.retry_backoff_max_seconds),
            before_sleep=lambda state: self._on_failure(table, state),
            retry=retry_if_exception(lambda exc: not is_unwritable(exc)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    rows = await self._warehouse.run(write)
        except Exception as exc:
            metrics.INSERT_ERRORS.labels(table).inc()
            if is_unwritable(exc):
                raise UnwritableRowsError(f"rows for {table} do not fit its columns: {_reason(exc)}") from exc
            if self._stopping.is_set():
                stopping = f"insert into {table} abandoned, the worker is stopping: {exc}"
                raise WarehouseUnavailableError(stopping) from exc
            raise WarehouseUnavailableError(f"insert into {table} failed after retries: {exc}") from exc
        metrics.FLUSH_SECONDS.labels(table).observe(time.perf_counter() - started)
        metrics.ROWS_WRITTEN.labels(table).inc(rows)
        metrics.LAST_WRITE_TIMESTAMP.labels(table).set_to_current_time()
        return rows

    async def _backoff(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _on_failure(self, table: str, state: RetryCallState) -> None:
        self._on_retry()
        metrics.INSERT_ERRORS.labels(table).inc()
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        log.warning("insert into %s failed (attempt %d), retrying: %s", table, state.attempt_number, error)
