"""Supervision of a worker: a stall watchdog, a guard for a blocked loop, and the exit codes.

A stall watchdog: a worker whose partitions have messages waiting but whose committed offsets
do not move, or whose commits stay behind the work it finished, exits, so its orchestrator
restarts it.

faust-streaming can stop committing, or stop delivering, a partition after some rebalances (seen
here when a worker takes over the partitions of a killed one under load): nothing fails, the
process stays up, and lag grows. Exiting without acking is always safe here (every effect is
written idempotently), and a fresh process rejoins the group and carries on.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from streams.runtime import metrics
from streams.runtime.inserter import InvalidInputFloodError, WarehouseUnavailableError

log = logging.getLogger(__name__)

Partition = tuple[str, int]

EX_DATAERR = 65
"""Too much invalid input: a bad deploy upstream; restarting changes nothing until it is fixed."""
EX_TEMPFAIL = 75
"""Infrastructure (the warehouse, a stall): a restart is the remedy."""
EX_SOFTWARE = 70
"""Anything else: a bug."""


class WorkerStalledError(RuntimeError):
    """The agents stopped making progress with messages waiting (see ``StallWatchdog``)."""


class StallWatchdog:
    def __init__(self, timeout_seconds: float) -> None:
        self.timeout = timeout_seconds
        self._committed: dict[Partition, int] = {}
        self._since: dict[Partition, float] = {}
        self._owed: dict[Partition, tuple[int, float]] = {}

    def reassigned(self) -> None:
        """Partitions moved: give the new assignment a full timeout to start."""
        self._committed.clear()
        self._since.clear()
        self._owed.clear()

    def processed(self, positions: Mapping[Partition, int], now: float | None = None) -> None:
        """Batches up to these positions (one past their last offsets) are written and acked."""
        now = time.monotonic() if now is None else now
        for partition, position in positions.items():
            self._owed.setdefault(partition, (position, now))

    def commits_behind(self, committed: Mapping[Partition, int], now: float | None = None) -> dict[Partition, int]:
        """Partitions whose committed offset has stayed short of a position processed more than
        the timeout ago, with how far short: the work is done but its commits do not follow."""
        now = time.monotonic() if now is None else now
        behind = {}
        for partition, (position, since) in list(self._owed.items()):
            done = committed.get(partition, 0)
            if done >= position:
                del self._owed[partition]
            elif now - since > self.timeout:
                behind[partition] = position - done
        return behind

    def progressed(self) -> None:
        """Work moved on that commits will show only later (a skipped range being read back in
        chunks before the batch is acked): restart every partition's clock."""
        self._since.clear()

    def waiting_on_infrastructure(self) -> None:
        """The writer is retrying a warehouse that fails: the worker is not stuck and a restart
        cannot end an outage, so the clocks start again; the writer's give-up budget decides."""
        self._since.clear()

    def stalled(
        self, highwater: Mapping[Partition, int], committed: Mapping[Partition, int], now: float | None = None
    ) -> int:
        """Messages waiting on partitions whose committed offset has not moved for the timeout
        although messages wait past it; 0 when every partition is moving or caught up."""
        now = time.monotonic() if now is None else now
        waiting = 0
        for partition, high in highwater.items():
            done = committed.get(partition, 0)
            if high <= done:
                self._since.pop(partition, None)
                self._committed[partition] = done
                continue
            if self._committed.get(partition) != done or partition not in self._since:
                self._committed[partition] = done
                self._since[partition] = now
            elif now - self._since[partition] > self.timeout:
                waiting += high - done
        return waiting


class LoopGuard:
    """The stall watchdog runs on the event loop, so a loop that is blocked (a call that never
    returns) or a check that no longer runs would go unnoticed. A thread outside the loop
    expects a ``beat`` from every check and calls ``on_stuck`` when none came for the timeout."""

    def __init__(self, timeout_seconds: float, on_stuck: Callable[[float], None]) -> None:
        self.timeout = timeout_seconds
        self._on_stuck = on_stuck
        self._last = time.monotonic()
        self._thread: threading.Thread | None = None

    def beat(self, now: float | None = None) -> None:
        self._last = time.monotonic() if now is None else now

    def silent_for(self, now: float | None = None) -> float:
        """Seconds since the last beat, when more than the timeout; else 0."""
        silent = (time.monotonic() if now is None else now) - self._last
        return silent if silent > self.timeout else 0.0

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._watch, name="loop-guard", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            time.sleep(max(self.timeout / 8, 0.05))
            silent = self.silent_for()
            if silent:
                self._on_stuck(silent)
                return


class ConsumerView(Protocol):
    """What the stall check needs of the consumer (``faust_compat.FaustConsumerView``)."""

    def busy(self) -> bool:
        """Rebalancing or restoring state: not a stall."""
        ...

    async def ends(self) -> dict[Partition, int] | None:
        """The assigned partitions' end offsets; None when the consumer did not answer in time."""
        ...

    def committed(self, partitions: Iterable[Partition]) -> dict[Partition, int]: ...

    def mark_written(self, marks: Mapping[Partition, int]) -> None: ...


class WrittenThrough(Protocol):
    async def written_through(self, topic: str) -> dict[Partition, int]: ...


class StallCheck:
    """Every few seconds: commits may pass what the warehouse holds (also where no batch comes
    any more, see ``streams.runtime.faust_compat``), and a worker that makes no progress exits."""

    def __init__(self, watchdog: StallWatchdog, consumer: ConsumerView, written: Mapping[str, WrittenThrough]) -> None:
        self.watchdog = watchdog
        self.interval = min(15.0, watchdog.timeout / 4)
        self.guard = LoopGuard(watchdog.timeout + 2 * self.interval, exit_blocked)
        self._consumer = consumer
        self._written = written

    async def run(self) -> None:
        self.guard.beat()
        if self._consumer.busy():
            self.watchdog.reassigned()  # restoring state or moving partitions is not a stall
            return
        ends = await self._consumer.ends()
        if ends is None:
            log.warning("stall check: the consumer did not report its partitions' end offsets within 10 s")
            return
        await self._mark_written()
        committed = self._consumer.committed(ends)
        for (topic, partition), high in ends.items():  # fresh while a batch cannot finish
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(max(high - committed[(topic, partition)], 0))
        waiting = self.watchdog.stalled(ends, committed)
        timeout = self.watchdog.timeout
        if waiting:
            print_tasks()
            exit_without_ack(WorkerStalledError(f"{waiting} messages waiting, no offsets committed for {timeout:g}s"))
        behind = self.watchdog.commits_behind(committed)
        if behind:
            where = ", ".join(f"{topic}:{partition} by {n}" for (topic, partition), n in sorted(behind.items()))
            exit_without_ack(
                WorkerStalledError(
                    f"committed offsets stayed behind finished work for {timeout:g}s ({where}); "
                    "a restart commits again from the warehouse's marks"
                )
            )

    async def _mark_written(self) -> None:
        for topic, processor in self._written.items():
            try:
                self._consumer.mark_written(await processor.written_through(topic))
            except Exception as exc:  # noqa: BLE001 - the warehouse may be down; the next check tries again
                log.warning("stall check: could not read how far %s is written: %s", topic, exc)


class BatchesInHand:
    """How many batches are between being taken and being acked, for the shutdown deadline."""

    def __init__(self) -> None:
        self.count = 0


IN_HAND = BatchesInHand()


async def or_exit(work: Awaitable[None], stop_retrying: Callable[[], None]) -> None:
    """Finish the batch even if the agent is cancelled mid-way (a stop), or exit without acking it.

    Faust acks a ``take_events`` batch when the loop body is left, cancellation included, so a
    body cancelled during its insert would have its offsets committed with no rows written. A
    batch whose insert is failing is not retried through a stop: the worker exits (75) unacked.
    """
    task = asyncio.ensure_future(work)
    IN_HAND.count += 1
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        stop_retrying()
        await _finish(task)
        raise
    except Exception as exc:  # noqa: BLE001 - any failure must stop the batch being acked
        exit_without_ack(exc)
    finally:
        IN_HAND.count -= 1


async def _finish(task: asyncio.Future[None]) -> None:
    try:
        await task
    except Exception as exc:  # noqa: BLE001 - as above
        exit_without_ack(exc)


def exit_without_ack(exc: Exception) -> None:
    """Exit at once: leaving the loop body any other way would ack the batch. Faust would
    restart a crashed agent and carry on past the batch, so even a bug must end the process."""
    if isinstance(exc, WarehouseUnavailableError | InvalidInputFloodError | WorkerStalledError):
        log.critical("stopping the worker without acking the batch: %s", exc)
    else:
        log.critical("stopping the worker without acking the batch: unexpected error", exc_info=exc)
    logging.shutdown()
    os._exit(exit_code(exc))


def exit_code(exc: Exception) -> int:
    if isinstance(exc, InvalidInputFloodError):
        return EX_DATAERR
    if isinstance(exc, WarehouseUnavailableError | WorkerStalledError):
        return EX_TEMPFAIL
    return EX_SOFTWARE


def print_tasks() -> None:
    """Where every coroutine waits, to stderr: what a stall waited on, for the log."""
    log.critical("no progress: the stacks of the event loop's tasks follow")
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=sys.stderr)
    sys.stderr.flush()


class ShutdownDeadline:
    """A stop (SIGTERM) may take this long; then the process exits by itself.

    faust-streaming closes its Kafka consumer on a thread and waits up to a minute for it; on a
    busy machine that wait can outlast an orchestrator's grace period, which ends in SIGKILL.
    Exiting is safe at any point (offsets not yet committed are read again and counted as already
    written), so past the deadline the worker says so and exits: 0 when no batch was in hand,
    75 when one was (it is written again after the restart)."""

    def __init__(self, timeout_seconds: float, in_hand: BatchesInHand = IN_HAND) -> None:
        self.timeout = timeout_seconds
        self._in_hand = in_hand
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._wait, name="shutdown-deadline", daemon=True)
            self._thread.start()

    def exit_code(self) -> int:
        return EX_TEMPFAIL if self._in_hand.count else 0

    def _wait(self) -> None:
        time.sleep(self.timeout)
        code = self.exit_code()
        log.warning(
            "the worker did not finish stopping within %gs (%d batches in hand); exiting with %d: "
            "offsets not yet committed are read again and counted as already written",
            self.timeout,
            self._in_hand.count,
            code,
        )
        exit_with_stacks(code)


def exit_blocked(silent: float) -> None:
    """From the guard's thread: say where every thread is, then exit for a restart."""
    log.critical("stopping the worker: the event loop ran no stall check for %.0fs; thread stacks follow", silent)
    exit_with_stacks(EX_TEMPFAIL)


def exit_with_stacks(code: int) -> None:
    """Every thread's stack to stderr, the log flushed, then exit at once (from any thread)."""
    faulthandler.dump_traceback(all_threads=True)
    logging.shutdown()
    os._exit(code)
