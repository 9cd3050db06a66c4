"""A stall watchdog: a worker whose partitions have messages waiting but makes no progress exits,
so its orchestrator restarts it.

faust-streaming can leave a ``take_events`` agent waiting forever after some rebalances (seen
here when a worker takes over the partitions of a killed one under load): nothing fails, the
process stays up, and lag grows. Exiting without acking is always safe here (every effect is
written idempotently), and a fresh process rejoins the group and carries on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping


class StallWatchdog:
    def __init__(self, timeout_seconds: float) -> None:
        self.timeout = timeout_seconds
        self._last_progress = time.monotonic()
        self._processed: dict[tuple[str, int], int] = {}

    def progressed(self, last_offsets: Mapping[tuple[str, int], int]) -> None:
        """A batch finished; ``last_offsets`` is its highest offset per partition."""
        self._last_progress = time.monotonic()
        for partition, offset in last_offsets.items():
            self._processed[partition] = max(offset, self._processed.get(partition, -1))

    def reassigned(self) -> None:
        """Partitions moved: give the new assignment a full timeout to start."""
        self._last_progress = time.monotonic()
        self._processed.clear()

    def waiting(self, highwater: Mapping[tuple[str, int], int], committed: Mapping[tuple[str, int], int]) -> int:
        """Messages waiting on the given partitions: past both the committed and the processed offset."""
        return sum(
            max(0, high - max(committed.get(p, 0), self._processed.get(p, -1) + 1)) for p, high in highwater.items()
        )

    def stalled(self, waiting: int, now: float | None = None) -> bool:
        return waiting > 0 and (now or time.monotonic()) - self._last_progress > self.timeout
