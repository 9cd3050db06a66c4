"""Stage: a cap on the share of invalid input per partition, so a bad deploy stops the worker
with a clear message instead of quietly dead-lettering everything."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.records import SourcePartition


@dataclass(frozen=True, slots=True)
class InvalidRatioLimit:
    max_ratio: float = 0.5
    window_messages: int = 1000


@dataclass(slots=True)
class InvalidRatioWindows:
    """Tumbling windows of ``window_messages`` messages per partition."""

    messages: Counter[SourcePartition] = field(default_factory=Counter)
    invalid: Counter[SourcePartition] = field(default_factory=Counter)


def check_invalid_ratio(
    windows: InvalidRatioWindows,
    messages: Mapping[SourcePartition, int],
    invalid: Mapping[SourcePartition, int],
    limit: InvalidRatioLimit,
) -> str | None:
    """Add a batch's counts; return why to stop when a full window is over the limit."""
    for partition, count in messages.items():
        windows.messages[partition] += count
        windows.invalid[partition] += invalid.get(partition, 0)
        seen, bad = windows.messages[partition], windows.invalid[partition]
        if seen < limit.window_messages:
            continue
        del windows.messages[partition], windows.invalid[partition]
        if bad / seen > limit.max_ratio:
            topic, number = partition
            return (
                f"{bad} of the last {seen} inputs on {topic}[{number}] were invalid "
                f"({bad / seen:.0%} > {limit.max_ratio:.0%}); a broken producer? Fix it, or raise "
                "SEATMETER_INGEST__INVALID_RATIO_MAX, then restart"
            )
    return None
