"""Session state and worker memory against the number of open sessions.

A real worker (embedded warehouse, the default deployment) reads ``keys`` distinct (device,
user, product) keys with one sample each, so each key holds one open session; its resident
memory is read from ``/proc`` once it has read a thousand keys, half of the rest and all of
them, with the size of its session store (RocksDB) on disk. The serialized state per key (what
the store and the changelog hold) comes from the session stage in-process, for
``in_process_keys`` keys (default one million), which a real worker would take minutes to read.

    python -m tests.bench.run --only state [--sessions 100000]
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from schemas.records import SourceRecord
from schemas.settings import SessionSettings
from sinks.kafka.client import produce
from streams.pipeline.admit.door import Door, DoorPolicy
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.aggregate.minutes import epoch_ms
from streams.pipeline.batch import ingest_batch
from streams.pipeline.sessionize.sessions import build_session_rules, sessionize_batch
from tests.bench.scaling import make_topics, rss_bytes
from tests.bench.three_way import MESSAGES_CONSUMED
from tests.integration.harness import Pipeline, agent_sample

USERS_PER_DEVICE = 100
WARM_UP_KEYS = 1_000
KEY = PseudonymKey("bench", b"bench-key")
Message = tuple[bytes, bytes]


def key_messages(keys: int, first_device: int = 0, at: datetime | None = None) -> list[Message]:
    """``keys`` distinct keys, one sample each, in envelopes of a device's ``USERS_PER_DEVICE`` users."""
    end = (at or datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    messages = []
    for start in range(0, keys, USERS_PER_DEVICE):
        device = f"mem-{first_device + start // USERS_PER_DEVICE}"
        events = [
            orjson.loads(agent_sample(device, f"CORP\\u{user}", "EXCEL.EXE", end, f"{device}-{user}")[1])
            for user in range(min(USERS_PER_DEVICE, keys - start))
        ]
        messages.append((device.encode(), orjson.dumps({"schema_version": 2, "events": events})))
    return messages


def state_bytes(keys: int, chunk: int = 50_000) -> tuple[float, float]:
    """Serialized session state per key (each with one open session) and state key bytes per
    key, from the session stage over ``keys`` keys, a chunk at a time: the pure stages read one
    chunk's messages, and each further chunk is that chunk's observations on other devices."""
    now = datetime.now(UTC)
    rules = build_session_rules(SessionSettings(), 7 * 86_400)
    messages = key_messages(min(chunk, keys), at=now - timedelta(minutes=2))
    records = [SourceRecord("bench", i % 4, i, value, key) for i, (key, value) in enumerate(messages)]
    observed = ingest_batch(records, {}, KEY, Door(DoorPolicy()), now).observations
    values = names = 0
    for copy in range(0, keys, len(observed)):
        observations = [replace(o, key=replace(o.key, device_id=f"{o.key.device_id}/{copy}")) for o in observed]
        for update in sessionize_batch({}, observations[: keys - copy], rules, epoch_ms(now)):
            if len(update.state.sessions) != 1:
                raise AssertionError(f"a key holds {len(update.state.sessions)} sessions, not one")
            values += len(update.state.to_bytes())
            names += len(update.state_key.encode())
    return values / keys, names / keys


def bench_state_memory(folder: Path, keys: int, in_process_keys: int = 1_000_000) -> list[tuple[str, str]]:
    """Worker memory at a few keys, at half of ``keys`` more and at all of them; state bytes per open session."""
    pipeline = Pipeline(root=folder / "state", warehouse_url=f"chdb://{folder / 'state' / 'warehouse'}")
    pipeline.root.mkdir(parents=True, exist_ok=True)
    kafka = make_topics(pipeline)
    load = key_messages(WARM_UP_KEYS + keys)
    steps = (WARM_UP_KEYS // USERS_PER_DEVICE, (WARM_UP_KEYS + keys // 2) // USERS_PER_DEVICE, len(load))
    worker = pipeline.start_worker()

    def read_through(first: int, last: int) -> int:
        """RSS once the worker has read the messages up to ``last``, and two seconds more."""
        asyncio.run(produce(kafka, pipeline.topic, load[first:last]))
        worker.wait_metric(MESSAGES_CONSUMED, last, timeout=600)
        time.sleep(2)
        return rss_bytes(worker.process.pid)

    try:
        rss = [read_through(0, steps[0])]
        started = time.perf_counter()
        rss += [read_through(steps[0], steps[1]), read_through(steps[1], steps[2])]
        seconds, peak = time.perf_counter() - started, rss_bytes(worker.process.pid, "VmHWM")
        on_disk = sum(_files_of(pipeline.root / "worker", "sessions-"))
    finally:
        worker.stop()
    print(f"state: {keys:,} keys read in {seconds:.1f} s", file=sys.stderr, flush=True)
    value, name = state_bytes(in_process_keys)
    sessions, mib = [WARM_UP_KEYS, WARM_UP_KEYS + keys // 2, WARM_UP_KEYS + keys], 1 << 20
    return [
        (f"worker RSS at {', '.join(f'{n:,}' for n in sessions)} open sessions (real worker, embedded warehouse)",
         f"{', '.join(f'{r / mib:,.0f}' for r in rss)} MiB (peak {peak / mib:,.0f} MiB): "
         f"{(rss[2] - rss[0]) / keys:,.0f} bytes per open session over all, "
         f"{(rss[2] - rss[1]) / (keys - keys // 2):,.0f} over the last half; {keys:,} new keys in {seconds:.0f} s"),
        (f"session store on disk (RocksDB), {sessions[2]:,} open sessions",
         f"{on_disk / sessions[2]:,.0f} bytes per open session"),
        (f"session state serialized, {in_process_keys:,} keys of one open session each (in-process)",
         f"{value:,.0f} bytes per open session, plus {name:,.0f} bytes of key"),
    ]  # fmt: skip


def _files_of(root: Path, marker: str) -> Iterator[int]:
    """Sizes of the files below ``root`` in a folder whose name holds ``marker``."""
    for path in root.rglob("*"):
        if path.is_file() and any(marker in part for part in path.relative_to(root).parts[:-1]):
            yield path.stat().st_size
