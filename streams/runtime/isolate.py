"""No message can stop the worker: a batch that fails for an unexpected reason is split until the
messages that make it fail are found; each is tried again on its own, ``attempts`` times in all,
then set aside (dead-lettered with the error's class) and the partition moves on.

Infrastructure errors (the warehouse unreachable past its retry budget, the broker gone, too much
invalid input) are not a message's fault: they pass through untouched, so the worker stops without
committing, as before. So does a failure of most of a batch, message by message: that is a bug or
a broken dependency, and dead-lettering the batch would hide it. Processing part of a batch again
is safe for the reason a replayed batch is: every effect is idempotent, and the warehouse's
offsets skip what was written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from schemas.records import SourceRecord

Process = Callable[[Sequence[SourceRecord]], Awaitable[None]]
SetAside = Callable[[SourceRecord, Exception, int], Awaitable[None]]
IsInfrastructure = Callable[[Exception], bool]
Failure = tuple[SourceRecord, Exception]


class SystemicFailureError(RuntimeError):
    """Too many of a batch's messages failed on their own to blame the messages."""


async def process_isolating(
    records: Sequence[SourceRecord],
    process: Process,
    set_aside: SetAside,
    attempts: int,
    is_infrastructure: IsInfrastructure,
    max_share: float = 0.5,
) -> None:
    """``process`` the batch; on an error that is not infrastructure, find the messages that fail
    alone and set them aside, unless they are more than ``max_share`` of the batch (and more than one)."""
    failed = await _find_failing(records, process, attempts, is_infrastructure)
    if len(failed) > max(1, int(len(records) * max_share)):
        raise SystemicFailureError(
            f"{len(failed)} of {len(records)} messages failed on their own, first with {type(failed[0][1]).__name__}"
        ) from failed[0][1]
    for record, error in failed:
        await set_aside(record, error, attempts)


async def _find_failing(
    records: Sequence[SourceRecord], process: Process, attempts: int, is_infrastructure: IsInfrastructure
) -> list[Failure]:
    """The messages that fail alone, each the first of its half to be tried again."""
    try:
        await process(records)
    except Exception as exc:
        if is_infrastructure(exc) or not records:
            raise
        if len(records) == 1:
            return await _retry_alone(records[0], process, attempts, is_infrastructure, exc)
        middle = len(records) // 2
        left = await _find_failing(records[:middle], process, attempts, is_infrastructure)
        return left + await _find_failing(records[middle:], process, attempts, is_infrastructure)
    return []


async def _retry_alone(
    record: SourceRecord, process: Process, attempts: int, is_infrastructure: IsInfrastructure, error: Exception
) -> list[Failure]:
    for _ in range(attempts - 1):
        try:
            await process([record])
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            error = exc
        else:
            return []
    return [(record, error)]
