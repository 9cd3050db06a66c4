"""Where osquery's differential runs live between batches, around the pure ``process_runs`` stage.

The store is the same kind as the session state's: a Faust table (RocksDB and a compacted changelog
partitioned like the source topic) when streaming, a local RocksDB file for offline replay. A host
whose state expired keeps an empty record.

A run remembers its process row (user, path), which are raw identities: the state is always sealed
like dead letters before it reaches the changelog or the disk (``privacy.store_raw_identities`` is
about dead letters only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from schemas.moments import epoch_ms
from schemas.records import SourceRecord
from streams.pipeline.dead_letters.seal import Sealer, UnsealError
from streams.pipeline.decode.opening import SourceDecoded
from streams.pipeline.decode.process_runs import HostRuns, RunUpdate, run_state_keys, track_runs_batch

log = logging.getLogger(__name__)

Decoder = Callable[[SourceRecord], SourceDecoded]


class StateStore(Protocol):
    async def get_many(self, state_keys: Sequence[str]) -> dict[str, bytes]: ...

    async def put_many(self, items: Sequence[tuple[int, str, bytes]]) -> None: ...


class RunTracker:
    """Decodes a batch, replaces differential rows by sightings, and keeps the hosts' runs."""

    def __init__(self, store: StateStore, horizon_ms: int, sealer: Sealer) -> None:
        self._store = store
        self._horizon_ms = horizon_ms
        self._sealer = sealer

    async def track(
        self, records: Sequence[SourceRecord], decode: Decoder, now: datetime
    ) -> tuple[Decoder, list[RunUpdate]]:
        """A decoder over this batch's records that gives their sightings, and the new states."""
        items = [(record, decode(record)) for record in records]
        raw = await self._store.get_many(run_state_keys(items))
        states = {key: self._open(key, value) for key, value in raw.items()}
        step = track_runs_batch(states, items, self._horizon_ms, epoch_ms(now))

        def tracked(record: SourceRecord) -> SourceDecoded:
            return step.decoded[(record.topic, record.partition, record.offset)]

        return tracked, step.updates

    async def save(self, updates: Sequence[RunUpdate]) -> None:
        """Returns once the states are durable (the changelog acknowledged them)."""
        if updates:
            items = [(u.partition, u.state_key, b"" if u.state is None else self._seal(u.state)) for u in updates]
            await self._store.put_many(items)

    def _seal(self, state: HostRuns) -> bytes:
        return self._sealer.seal(state.to_bytes())

    def _open(self, state_key: str, value: bytes) -> HostRuns:
        """A state sealed under another key (a new pseudonym key) starts afresh."""
        if not value:
            return HostRuns()
        try:
            return HostRuns.from_bytes(self._sealer.unseal(value))
        except UnsealError:
            log.warning("the run state of a host was sealed under another pseudonym key; starting it afresh")
            return HostRuns()
