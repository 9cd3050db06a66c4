"""Faust's record of which offsets are done, and the one offset it may commit next.

faust-streaming keeps per partition a list of acknowledged offsets and a tree of *gaps*
(offsets it will never deliver, counted as done), and commits the end of the first run of
consecutive offsets after the committed one. Two flaws of that bookkeeping stopped commits
here while the work itself was finished (issue 12, item 6):

- gap ranges are added to the acknowledged list without removing offsets already there, and
  each duplicate ends a run early, so the committed offset moved by a few offsets per commit
  interval (a crawl of about one message a second, with thousands processed but uncommitted);
- offsets Faust skipped without recording a gap (seen after the local state was deleted: it
  delivered a partition's first offsets, then went on far past them) were neither
  acknowledged nor gaps, so nothing was committed again.

``CommitTrackingConsumer`` computes the next offset from all three records of done work,
counting each offset once: acknowledged offsets, gaps, and the offset through which the
warehouse holds every message (``mark_written``; the usage processor knows it, and reads
skipped ranges back before it moves).

This module is the only one that touches Faust's private parts: the commit bookkeeping
(``_acked``, ``_gap``, ``_committed_offset``, ``_new_offset``) and the stream's current-event
context variable (``TableSessionStates``). ``tests/unit/runtime/test_faust_compat.py`` pins the
faust-streaming version they were read from.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from schemas.records import SourceRecord
from sinks.kafka.records import source_record
from streams.pipeline.sessionize.sessions import state_partition

FAUST_VERSION = "0.15.3"
"""The faust-streaming release whose internals this module was written against."""


@dataclass(frozen=True)
class CommitStep:
    """What one commit takes from the done offsets of a partition."""

    offset: int | None
    """The offset to commit (one past the last done one), or None when nothing may be committed."""
    left: list[int]
    """Acknowledged offsets past a hole, kept for a later commit."""


def next_commit(
    acked: Iterable[int], gaps: Iterable[tuple[int, int]], committed: int | None, written_through: int | None = None
) -> CommitStep:
    """The offset to commit from acknowledged offsets, gap ranges (``begin`` inclusive, ``end``
    exclusive) and the offset through which the warehouse holds every message, each offset
    counted once however often it is recorded.

    The offset to commit is the end of the first stretch of done offsets. A gap counts when it
    starts at or below the highest acknowledged offset (Faust's rule: its gaps end at an offset
    it delivered, perhaps still in flight). Nothing is committed while the stretch starts more
    than one past ``committed``: Faust records gaps from one past the committed offset, so the
    committed offset itself may be missing. Ranges are never expanded offset by offset.
    """
    done = sorted(set(acked))
    stretches = [(o, o + 1) for o in done]
    if done:
        stretches += [(b, e) for b, e in gaps if b <= done[-1] and e > b]
    if written_through is not None and written_through >= (committed or 0):
        stretches.append((committed or 0, written_through + 1))
    if not stretches:
        return CommitStep(None, [])
    stretches.sort()
    first, end = stretches[0]
    for begin, stop in stretches[1:]:
        if begin > end:
            break
        end = max(end, stop)
    if committed and first - committed > 1:
        return CommitStep(None, done)
    return CommitStep(end, [o for o in done if o >= end])


class CommitTrackingConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with ``next_commit`` as its rule for the offset to commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._written_through: dict[TP, int] = {}

    def _new_offset(self, tp: TP) -> int | None:
        acked, written = self._acked[tp], self._written_through.get(tp)
        if not acked and written is None:
            return None
        gaps = self._gap[tp]
        step = next_commit(acked, ((i.begin, i.end) for i in gaps), self._committed_offset[tp], written)
        acked[:] = step.left
        if step.offset is not None:
            if gaps:
                gaps.chop(0, step.offset)
            index = self._acked_index[tp]
            index.difference_update([o for o in index if o < step.offset])
        return step.offset

    def committed(self, tp: TP) -> int | None:
        """The committed offset Faust sought to on assignment or committed since; None before."""
        offset: int | None = self._committed_offset.get(tp)
        return offset

    def mark_written(self, marks: Mapping[tuple[str, int], int]) -> None:
        """The warehouse holds every message of these partitions through these offsets (written or
        set aside), whether or not Faust delivered them: commits may pass them. Partitions not
        assigned here are left to the worker that has them."""
        assigned = self.assignment()
        for (topic, partition), offset in marks.items():
            tp = TP(topic, partition)
            if tp in assigned and offset > self._written_through.get(tp, -1):
                self._written_through[tp] = offset
                self._acked[tp]  # noqa: B018 - Faust commits only partitions with an entry here


class CommitTrackingTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[Any] = CommitTrackingConsumer


def track_commits(app: faust.App) -> None:
    """Give the app a consumer that commits by ``next_commit``; before anything uses the transport."""
    app.transport = CommitTrackingTransport(app.conf.broker_consumer, app)


def commit_tracker(app: faust.App) -> CommitTrackingConsumer:
    """The app's consumer, as ``track_commits`` made it."""
    consumer = app.consumer
    if not isinstance(consumer, CommitTrackingConsumer):
        raise TypeError("the app's transport was made before track_commits(app)")
    return consumer


class FaustConsumerView:
    """The stall check's view of the app's consumer (``supervision.ConsumerView``)."""

    def __init__(self, app: faust.App, topics: set[str]) -> None:
        self._app = app
        self._topics = topics

    def busy(self) -> bool:
        recovery = getattr(self._app.tables, "recovery", None)
        return bool(self._app.rebalancing or (recovery is not None and not recovery.completed.is_set()))

    async def ends(self) -> dict[tuple[str, int], int] | None:
        assigned = [tp for tp in self._app.consumer.assignment() if tp.topic in self._topics]
        try:
            ends = await asyncio.wait_for(self._app.consumer.highwaters(*assigned), 10) if assigned else {}
        except TimeoutError:
            return None
        return {(tp.topic, tp.partition): ends[tp] for tp in assigned if ends.get(tp) is not None}

    def committed(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        tracker = commit_tracker(self._app)
        return {(topic, partition): tracker.committed(TP(topic, partition)) or 0 for topic, partition in partitions}

    def mark_written(self, marks: Mapping[tuple[str, int], int]) -> None:
        commit_tracker(self._app).mark_written(marks)


class TableSessionStates:
    """Session state in a Faust table: RocksDB on the worker, a compacted changelog topic in
    Kafka, partitioned like the source topic so state moves with its partition on a rebalance.

    Faust routes a table key to the store and changelog partition of the *current event*, a
    context variable its stream sets per event. A batch holds several partitions' events, so
    before touching a key this sets the current event to one from that key's partition (the
    state key starts with it). ``put_many`` waits for the changelog to be acknowledged.
    """

    def __init__(self, app: faust.App, table: Any) -> None:
        self._app = app
        self._table = table
        self._events: dict[int, Any] = {}

    def bind(self, events: Sequence[Any]) -> None:
        self._events = {event.message.partition: event for event in events}

    async def get_many(self, state_keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for state_key in state_keys:
            self._enter_partition(state_partition(state_key))
            value = self._table.get(state_key.encode())
            if value is not None:
                found[state_key] = value
        return found

    async def put_many(self, items: Sequence[tuple[int, str, bytes]]) -> None:
        for partition, state_key, value in items:
            self._enter_partition(partition)
            self._table[state_key.encode()] = value
        await self._app.producer.flush()

    def _enter_partition(self, partition: int) -> None:
        faust.streams._current_event.set(weakref.ref(self._events[partition]))  # noqa: SLF001


def to_source_record(event: Any) -> SourceRecord:
    """A Faust stream event as the plain record the stages read."""
    return source_record(event.message)
