"""The floor of the three-way benchmark: seatmeter's core job as a bare loop, with nothing else.

aiokafka ``getmany``, orjson, the peers' minimal checks, the per-minute per-product rollup in
plain dicts, and one INSERT into chDB per 5,000 messages, offsets committed after it (at least
once, like the others). None of seatmeter's work beyond that: no catalog naming, schema
validation, pseudonyms, duplicate record, dead letters, sessions or record of progress.

    python -m tests.bench.peers.raw_loop --topic T --group G --warehouse DIR --expect-messages N
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiokafka
import orjson
from aiokafka import AIOKafkaConsumer

from tests.bench.peers.rollup import (
    MinuteRollup,
    PeerReport,
    events_of,
    open_warehouse,
    peer_arguments,
    read_totals,
    usage_of,
    write_rollup,
)

MESSAGES_PER_INSERT = 5_000


async def run(args: argparse.Namespace) -> PeerReport:
    client = open_warehouse(args.warehouse)
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        rollup, messages, events, rejected, inserts, pending = MinuteRollup(), 0, 0, 0, 0, 0
        first_message = last_insert = 0.0
        last_progress = time.perf_counter()
        while messages < args.expect_messages:
            batches = await consumer.getmany(timeout_ms=500)
            now = time.perf_counter()
            if not batches:
                if now - last_progress > args.idle_timeout:
                    raise TimeoutError(f"no message for {args.idle_timeout:g}s after {messages:,} of them")
                continue
            if not messages:
                first_message = now
            last_progress = now
            for records in batches.values():
                for record in records:
                    for event in events_of(orjson.loads(record.value)):
                        usage = usage_of(event)
                        if usage is None:
                            rejected += 1
                            continue
                        rollup.add(usage)
                        events += 1
                messages += len(records)
                pending += len(records)
            if pending >= MESSAGES_PER_INSERT or messages >= args.expect_messages:
                write_rollup(client, rollup)
                last_insert = time.perf_counter()
                await consumer.commit()
                rollup, pending, inserts = MinuteRollup(), 0, inserts + 1
    finally:
        await consumer.stop()
    totals = read_totals(client)
    client.close()
    seconds = last_insert - first_message
    return PeerReport("raw aiokafka loop", aiokafka.__version__, messages, events, rejected, inserts, seconds, totals)


def main() -> None:
    report = asyncio.run(run(peer_arguments(__doc__ or "")))
    print(report.line(), flush=True)


if __name__ == "__main__":
    main()
