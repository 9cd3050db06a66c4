"""A Quix Streams 3.x peer of seatmeter's core job, written the way Quix documents such a job.

A StreamingDataFrame reads the topic's JSON values, expands each envelope into its events,
applies the peers' minimal checks and drops what fails them. A ``BatchingSink`` subclass rolls
up each batch Quix hands it (one per partition at every checkpoint) per minute and per product
and writes it to chDB with one INSERT. A checkpoint comes every 5,000 messages (the raw loop's
batch) or 5 s, whichever is first: with Quix's 5 s alone, a run of a few seconds would be one
batch. Quix's defaults otherwise (at least once); the job is stateless, so no RocksDB state.
The product is the executable's file name lower-cased: seatmeter's catalog naming, and the
rest of its work (see ``raw_loop``), is not done here.

quixstreams 3.28.1 caps pydantic below the project's pins, so this runs with its own packages
first on the path (``tests.bench.three_way`` sets that up):

    python -m tests.bench.peers.quix_rollup --topic T --group G --warehouse DIR --expect-messages N
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import quixstreams  # type: ignore[import-not-found]
from clickhouse_connect.driver.client import Client
from quixstreams import Application
from quixstreams.sinks import BatchingSink, SinkBatch  # type: ignore[import-not-found]

from tests.bench.peers.rollup import (
    MinuteRollup,
    PeerReport,
    Usage,
    events_of,
    open_warehouse,
    peer_arguments,
    read_totals,
    usage_of,
    write_rollup,
)

MESSAGES_PER_CHECKPOINT = 5_000


class RollupSink(BatchingSink):  # type: ignore[misc]
    """Each batch Quix flushes, rolled up and written with one INSERT."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self._client = client
        self.events = 0
        self.inserts = 0
        self.last_insert = 0.0

    def write(self, batch: SinkBatch) -> None:
        rollup = MinuteRollup()
        for item in batch:
            rollup.add(item.value)
        write_rollup(self._client, rollup)
        self.last_insert = time.perf_counter()
        self.events += batch.size
        self.inserts += 1


class Progress:
    """What the dataframe has seen: when its first message came, how many messages and rejected
    events; it stops the application once the expected messages are processed."""

    def __init__(self, expect_messages: int) -> None:
        self.expect_messages = expect_messages
        self.first_message = 0.0
        self.messages = 0
        self.rejected = 0
        self.stop: Callable[[], None] = lambda: None

    def events(self, document: Any) -> list[Any]:
        if not self.first_message:
            self.first_message = time.perf_counter()
        return events_of(document)

    def check(self, event: Any) -> Usage | None:
        usage = usage_of(event)
        if usage is None:
            self.rejected += 1
        return usage

    def processed(self, topic: str, partition: int, offset: int) -> None:
        self.messages += 1
        if self.messages == self.expect_messages:
            self.stop()


def run(args: argparse.Namespace) -> PeerReport:
    client = open_warehouse(args.warehouse)
    progress = Progress(args.expect_messages)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        commit_every=MESSAGES_PER_CHECKPOINT,
        state_dir=args.warehouse.parent / f"{args.warehouse.name}-quix-state",
        use_changelog_topics=False,
        on_message_processed=progress.processed,
        loglevel="WARNING",
    )
    progress.stop = app.stop
    sink = RollupSink(client)
    sdf = app.dataframe(app.topic(args.topic, value_deserializer="json"))
    sdf = sdf.apply(progress.events, expand=True).apply(progress.check).filter(lambda usage: usage is not None)
    sdf.sink(sink)
    app.run(timeout=args.idle_timeout)
    if progress.messages < args.expect_messages:
        raise TimeoutError(f"stopped after {progress.messages:,} of {args.expect_messages:,} messages")
    totals = read_totals(client)
    client.close()
    seconds = sink.last_insert - progress.first_message
    return PeerReport(
        "Quix Streams", quixstreams.__version__, progress.messages, sink.events, progress.rejected, sink.inserts,
        seconds, totals,
    )  # fmt: skip


def main() -> None:
    print(run(peer_arguments(__doc__ or "")).line(), flush=True)


if __name__ == "__main__":
    main()
