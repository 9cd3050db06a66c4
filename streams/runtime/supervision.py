"""A stall watchdog: a worker whose partitions have messages waiting but whose committed offsets
do not move, or whose commits stay behind the work it finished, exits, so its orchestrator
restarts it.

faust-streaming can stop committing, or stop delivering, a partition after some rebalances (seen
here when a worker takes over the partitions of a killed one under load): nothing fails, the
process stays up, and lag grows. Exiting without acking is always safe here (every effect is
written idempotently), and a fresh process rejoins the group and carries on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

Partition = tuple[str, int]


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
