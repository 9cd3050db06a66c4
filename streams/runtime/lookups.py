"""Reads from the warehouse that some paths make before a batch is planned, one query each.

Sources keyed by device make none (their hot path stays local). SSO sources and replays ask
which of the batch's event ids the warehouse counted already; replays also ask for the sessions
of keys they hold no state for, so that they continue what a stream or another folder wrote.
"""

from __future__ import annotations

from sinks.clickhouse.warehouse import Warehouse
from sinks.clickhouse.writers import ProductUsageWriter, recent_sessions
from streams.pipeline.batch import BatchRead
from streams.pipeline.dedupe.seen import SeenKey
from streams.pipeline.sessionize.sessions import KeyState, SessionKey, seeded_states, state_partition


class WarehouseLookups:
    def __init__(self, warehouse: Warehouse, across_partitions: bool, seed_sessions: bool, horizon_ms: int) -> None:
        self._warehouse = warehouse
        self._across_partitions = across_partitions
        self._seed_sessions = seed_sessions
        self._horizon_ms = horizon_ms

    async def counted_elsewhere(self, admitted: BatchRead) -> set[SeenKey]:
        """The batch's (day, id) keys the warehouse counted under any partition, when asked to."""
        if not self._across_partitions or not admitted.admitted:
            return set()
        return await self._warehouse.run(ProductUsageWriter().counted_anywhere, admitted.seen_keys())

    async def seeded(self, missing: set[str], now_ms: int) -> dict[str, KeyState]:
        """For state keys without state here, the sessions the warehouse holds, when asked to."""
        if not self._seed_sessions or not missing:
            return {}
        by_partition: dict[int, list[tuple[str, str, str]]] = {}
        for state_key in missing:
            key = SessionKey.from_state_key(state_key)
            by_partition.setdefault(state_partition(state_key), []).append((key.device_id, key.user_key, key.product))
        states: dict[str, KeyState] = {}
        for partition, keys in by_partition.items():
            rows = await self._warehouse.run(recent_sessions, keys, now_ms - self._horizon_ms)
            states.update(seeded_states(rows, partition))
        return states
