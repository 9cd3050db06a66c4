"""Session state on local disk (RocksDB), for offline replay where no Kafka changelog exists.

Keys and values are the same bytes a worker keeps in its Faust table, so one replay continues
the sessions of the previous one: backfilling a second file extends and merges sessions that
the first file started.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from rocksdict import WriteBatch

from sinks.local_state.seen_events import open_local_store


class LocalSessionStates:
    def __init__(self, path: Path) -> None:
        self._db = open_local_store(path)

    def close(self) -> None:
        self._db.close()

    async def get_many(self, state_keys: Sequence[str]) -> dict[str, bytes]:
        if not state_keys:
            return {}
        found = cast(list[bytes | None], self._db.get([k.encode() for k in state_keys]))
        return {k: v for k, v in zip(state_keys, found, strict=True) if v is not None}

    async def put_many(self, items: Sequence[tuple[int, str, bytes]]) -> None:
        batch = WriteBatch(raw_mode=True)
        for _, state_key, value in items:
            batch.put(state_key.encode(), value)
        self._db.write(batch)
