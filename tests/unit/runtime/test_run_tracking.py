"""The osquery run state is sealed on its way to the changelog or the disk, and opened again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.dead_letters.seal import Sealer
from streams.pipeline.decode.osquery import decode_osquery
from streams.runtime.run_tracking import RunTracker
from tests.unit.helpers import record

USER = "zelda.unique"
ROW = {"pid": "7", "name": "cad", "path": f"/home/{USER}/cad", "username": USER, "uid": "1000"}
HEADER = {"name": "pack_seatmeter-usage_processes_linux", "hostIdentifier": "lnx-1", "unixTime": 1795777200}
ADDED = {**HEADER, "counter": 4, "action": "added", "columns": ROW}
HEARTBEAT = {**HEADER, "name": "pack_seatmeter-usage_heartbeat", "unixTime": 1795777500,
             "snapshot": [{"instance_id": "i-1", "seatmeter_heartbeat": "1"}]}  # fmt: skip
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


class Store:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    async def get_many(self, state_keys):
        return {k: self.values[k] for k in state_keys if k in self.values}

    async def put_many(self, items):
        self.values.update({key: value for _, key, value in items})


def track(tracker: RunTracker, line, offset: int) -> list[str]:
    async def run() -> list[str]:
        rec = record(line, offset=offset, topic="osquery")
        decode, updates = await tracker.track([rec], decode_osquery, NOW)
        await tracker.save(updates)
        return [e.event_id for e in decode(rec).events]

    return asyncio.run(run())


def test_the_state_holds_no_raw_identity_and_opens_again():
    store = Store()
    tracker = RunTracker(store, 10**12, Sealer(PseudonymKey("k1", b"secret")))
    assert len(track(tracker, ADDED, 0)) == 1
    assert USER.encode() not in b"".join(store.values.values())
    assert len(track(tracker, HEARTBEAT, 1)) == 1  # the run was read back, so the heartbeat sights it


def test_a_state_sealed_under_another_key_starts_afresh():
    store = Store()
    track(RunTracker(store, 10**12, Sealer(PseudonymKey("k1", b"secret"))), ADDED, 0)
    assert track(RunTracker(store, 10**12, Sealer(PseudonymKey("k2", b"other"))), HEARTBEAT, 1) == []
