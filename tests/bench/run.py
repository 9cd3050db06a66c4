"""`make bench`: measure the hot path and write BENCHMARKS.md.

Medians of repeated runs; the machine is shared and noisy, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from schemas.records import SourceRecord
from schemas.settings import KafkaSettings, SessionSettings, WarehouseSettings, WorkerSettings
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.warehouse import connect_warehouse
from sinks.clickhouse.writers import ProductUsageWriter
from sinks.kafka.client import ensure_topics, pipeline_topics, produce
from streams.pipeline.admit.door import Door, DoorPolicy
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.aggregate.minutes import epoch_ms
from streams.pipeline.batch import ingest_batch
from streams.pipeline.sessionize.sessions import build_session_rules, sessionize_batch
from streams.runtime.tuning import tune_garbage_collector
from streams.tools.simulate import simulate_day
from tests.bench.bench_fingerprint import bench_fingerprint
from tests.bench.latency import bench_latency, bench_latency_at_load
from tests.bench.scaling import BATCH_SIZE_HEADER, bench_batch_sizes, bench_scaling, table
from tests.bench.state_memory import bench_state_memory
from tests.bench.three_way import Workload, bench_three_way, produce_workload
from tests.integration.harness import BOOTSTRAP, Pipeline

REPEATS = 5
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
KEY = PseudonymKey("bench", b"bench-key")
DOOR = Door(DoorPolicy())
NOW = datetime.now(UTC)
SESSION_KEYS = 100_000
SCALING_DEVICES = 40


def median_seconds(work: Callable[[], object], repeats: int = REPEATS) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def records_from(messages: list[tuple[bytes, bytes]]) -> list[SourceRecord]:
    return [SourceRecord("bench", i % 4, i, value, key) for i, (key, value) in enumerate(messages)]


def bench_stages() -> list[tuple[str, str]]:
    """The pure step on one core, with the worker's garbage-collector setting (``tune_garbage_collector``)."""
    traffic = simulate_day(1, 60, YESTERDAY, envelope_size=50)
    enveloped = records_from(traffic.messages)
    singles = records_from(simulate_day(1, 60, YESTERDAY, envelope_size=1).messages)
    rows, before = [], gc.get_threshold()
    tune_garbage_collector(WorkerSettings().gc_young_threshold)
    try:
        for name, batch in (("envelopes of 50 events", enveloped), ("one event per message", singles)):
            seconds = median_seconds(partial(ingest_batch, batch, {}, KEY, DOOR, NOW))
            rows.append((f"ingest batch step, {name}", f"{traffic.events / seconds:,.0f} events/s"))
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    return rows


def bench_inserts(folder: Path) -> list[tuple[str, str]]:
    client = connect_warehouse(WarehouseSettings(url=f"chdb://{folder / 'wh'}"))
    apply_migrations(client)
    traffic = simulate_day(2, 200, YESTERDAY, envelope_size=50)
    rollups = ingest_batch(records_from(traffic.messages), {}, KEY, DOOR, NOW).rollups
    writer = ProductUsageWriter()
    rows = []
    for size in (1_000, 10_000, 50_000):
        chunk = (rollups * (size // len(rollups) + 1))[:size]
        seconds = median_seconds(partial(writer.write, client, chunk))
        rows.append((f"chDB insert, {size:,} rollup rows per INSERT", f"{size / seconds:,.0f} rows/s"))
    client.close()
    return rows


def bench_end_to_end(folder: Path, envelope_size: int = 50, devices: int = 150) -> tuple[list[tuple[str, str]], float]:
    """One worker process from a pre-filled topic to the warehouse: the whole hot path; its row
    and its events/s."""
    root = folder / f"e2e-{envelope_size}"
    root.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(root=root, warehouse_url=f"chdb://{root / 'warehouse'}")
    traffic = simulate_day(3, devices, YESTERDAY, envelope_size=envelope_size)
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, agent_topic=pipeline.topic)
    asyncio.run(ensure_topics(kafka, pipeline_topics(kafka)))
    asyncio.run(produce(kafka, pipeline.topic, traffic.messages))
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_messages_consumed_total", 1, timeout=120)
        started = time.perf_counter()
        worker.wait_metric("seatmeter_messages_consumed_total", len(traffic.messages), timeout=600)
        seconds = time.perf_counter() - started
    finally:
        worker.stop()
    shape = "one event per message" if envelope_size == 1 else f"envelopes of {envelope_size}"
    what = f"worker end to end (Kafka -> chDB), {traffic.events:,} events, {shape}"
    rate = traffic.events / seconds
    return [(what, f"{rate:,.0f} events/s (one run, first batch to last)")], rate


def bench_sessions() -> list[tuple[str, str]]:
    """The sessionize step over a simulated day, and the state it keeps per session."""
    traffic = simulate_day(4, 60, YESTERDAY, envelope_size=50)
    observations = ingest_batch(records_from(traffic.messages), {}, KEY, DOOR, NOW).observations
    rules = build_session_rules(SessionSettings(), 7 * 86_400)
    watermark = epoch_ms(NOW)
    seconds = median_seconds(lambda: sessionize_batch({}, observations, rules, watermark))
    updates = sessionize_batch({}, observations, rules, watermark)
    state_bytes = [len(u.state.to_bytes()) for u in updates]
    sessions = sum(len(u.state.sessions) for u in updates)
    one_session = [size for size, u in zip(state_bytes, updates, strict=True) if len(u.state.sessions) == 1]
    return [
        (f"sessionize step, {len(observations):,} observations", f"{len(observations) / seconds:,.0f} events/s"),
        (
            f"session state, {len(updates):,} keys holding {sessions:,} sessions",
            f"{sum(state_bytes) / sessions:,.0f} bytes per session held; "
            f"{statistics.median(one_session or state_bytes):,.0f} bytes for a key with one open session",
        ),
    ]


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def render(report: Report) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m tests.bench.run --out BENCHMARKS.md`); "
        f"medians of {REPEATS} runs unless noted. The machines are shared and noisy: compare ratios within one run.",
        "",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or 'uncommitted'}",
        f"- machine: {machine()}",
        f"- seconds per part: {', '.join(f'{part} {seconds:,.0f}' for part, seconds in report.seconds.items())}",
        "",
        *table(("what", "result"), report.rows),
        "",
        *batch_size_section(report.batch_sizes),
        "## What the rows measure",
        "",
        "- **ingest batch step**: the pure stages (decode, rules at the door, de-duplication, pseudonymization,",
        "  product naming by the catalog, per-minute aggregation) over one simulated working day of 60 devices (about",
        "  175,000 events) as one batch, on one core, with the worker's garbage-collector setting. The whole",
        "  day in one batch makes about 50,000 rollup rows. Valid agent usage is read by msgspec structs;",
        "  the rest of the time is Python work per event spread over every stage (docs/performance.md).",
        "- **fingerprint**: the catalog matcher (`seatmeter catalog fingerprint`) on a mix of repeated and new",
        "  executables, CPU time per core.",
        "- **chDB insert**: one column-oriented INSERT of rollup rows (two string arrays each) into the",
        "  embedded engine; rows with arrays insert slower than flat rows.",
        "- **worker end to end**: one `seatmeter worker` process (Faust, one core for Python) from a",
        "  pre-filled topic to the embedded warehouse, including dead letters, commits, the local",
        "  record of counted events and session state (Faust table, changelog); a single run, timed",
        "  from its first batch to its last; once with envelopes of 50 and once with one event per",
        "  message (where Faust's work per message, not per event, dominates).",
        "- **sessionize step**: the pure session stage over a day's observations of 60 devices, from",
        "  empty state. **session state**: the serialized state (JSON) divided by the sessions it",
        "  holds; a key holds its sessions for the allowed lateness, so a key used daily holds a",
        "  week of them.",
        "- **event to warehouse**: wall time from producing one event to a running, caught-up worker",
        "  until a query sees it; the warehouse is reached over HTTP (the chDB fixture) so the",
        "  bench can read while the worker writes. Batches close after 0.2 s; pool minutes are",
        "  refreshed by the leader every second (15 s by default).",
        "- **three-way**: the worker beside two peers doing the core job only (decode, minimal checks,",
        "  per-minute per-product rollup, one INSERT per batch into chDB) on one pre-filled topic: a Quix",
        "  Streams job and a raw aiokafka `getmany` loop (`tests/bench/three_way.py`, alone with",
        "  `python -m tests.bench.three_way`). Each run has a fresh consumer group and warehouse, the",
        "  rounds interleave in a rotated order, and every run's totals (events, active time,",
        "  user-minutes) are read back and held to the producer's ledger; a run that differs fails.",
        *WHAT_THE_NEW_ROWS_MEASURE,
        "",
    ]
    return "\n".join(lines)


def batch_size_section(rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    return ["## Throughput against batch size", "", *table(BATCH_SIZE_HEADER, rows), ""]


WHAT_THE_NEW_ROWS_MEASURE = (
    "- **latency at load** (`--only latency`, with `--rate N` to take half of N instead of measuring the",
    "  end-to-end row first): a producer sends the end-to-end row's kind of traffic (a simulated day in",
    "  envelopes of 50) at half the end-to-end row's events/s for 60 s, each message's events moved in",
    "  time so that its last event is the moment it is sent, as an agent uploading its buffer. From the",
    "  fifth second, every 0.5 s, a probe (one sample from a new device, for a product of one of the probe",
    "  pools, which no background event uses) goes out through it, stamped with its send time; a thread",
    "  polls the warehouse every 50 ms and times each probe until its session is in `usage_sessions`",
    "  and until its pool's minute in `pool_usage_1m` counts it (probes share a message key, so they are",
    "  read in order and a minute counting every probe device up to this one has this one). Same",
    "  warehouse server, batch close (0.2 s) and pool refresh (1 s) as the idle rows. p99 is the 99th",
    "  percentile of n probes (inclusive method); with about 110 probes it is nearly the second largest.",
    "  The load row also gives the worker's batches, its seconds of warehouse writes per batch, and the",
    "  CPU of the worker and of the bench process (producer, warehouse server, poller) on the two cores.",
    "- **scaling** (`--only scaling`): one worker, then two, on one four-partition topic (the three-way",
    "  workload with `--devices` devices, 40 by default), each run with a fresh group and a warehouse",
    "  server both workers share (chDB behind the HTTP fixture, in the bench's own process, so engine",
    "  time is not the workers'). The topic is empty until every worker of the run is ready, so two",
    "  workers split the partitions before the first message; the messages are then copied onto it. CPU",
    "  is user plus system time of the worker processes (`/proc/<pid>/stat`) from then until their",
    "  metrics count every message; wall clock is the same window. Two rounds, the order alternating",
    "  (one, two; two, one), medians, each run's totals held to the ledger. The workers split the events",
    "  by partition, not evenly (device ids hash unevenly over four partitions).",
    "- **throughput against batch size** (`--only batch-size`): one worker into its embedded warehouse",
    "  per `worker.batch_max_messages` (`SEATMETER_WORKER__BATCH_MAX_MESSAGES`; messages, not events:",
    "  the topic's messages are envelopes of 30 events, a tenth single events), on the scaling part's",
    '  pre-filled topic, each with a fresh group; timed from its "Worker ready" to its last message,',
    "  totals held to the ledger. Batches also close after `worker.batch_max_seconds` and are bounded by",
    "  what the consumer has fetched, so large settings may not fill.",
    "- **state and memory** (`--only state`, `--sessions N`): a real worker (embedded warehouse, the",
    "  default deployment) reads 1,000 keys, then `--sessions` more (100,000 by default) in two halves,",
    "  each a distinct (device, user, product) with one sample, so one open session; RSS (`VmRSS`) after",
    "  each step, the peak (`VmHWM`), and the worker's RocksDB session store on disk. The RSS growth",
    "  holds everything that grows with new keys (the embedded engine, RocksDB's memtables, allocator",
    "  arenas), not the session state alone, which lives in RocksDB rather than in Python objects, and it",
    "  is not linear (compare the last half with the whole). The serialized state per key (JSON, what",
    "  RocksDB and the changelog hold) comes from the session stage in-process for 1,000,000 keys, since",
    "  a real worker reads about 4,000 new keys a second (four minutes). The 68 bytes per session that",
    "  earlier issues quote is the **session state** row of 29 November 2026 (commit f61abf4), from",
    "  before a session kept its per-minute tallies (313c2a5, the per-minute cap); today's state format",
    "  cannot reproduce it.",
)


@dataclass
class Report:
    """What the parts measured, and how long each took."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    batch_sizes: list[list[str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Bench:
    """One run of the chosen parts in one folder; the scaling and batch-size parts share a topic."""

    folder: Path
    args: argparse.Namespace
    report: Report = field(default_factory=Report)
    max_rate: float = 0.0
    produced: Workload | None = None

    def workload(self) -> Workload:
        """The pre-filled topic (``three_way.produce_workload``), produced when first asked for."""
        if self.produced is None:
            self.produced = produce_workload(self.args.devices)
        return self.produced

    def add(self, rows: list[tuple[str, str]]) -> None:
        self.report.rows += rows

    def end_to_end(self) -> None:
        rows, self.max_rate = bench_end_to_end(self.folder)
        self.add(rows)
        self.add(bench_end_to_end(self.folder, envelope_size=1, devices=40)[0])

    def latency(self) -> None:
        """Idle, then at half the end-to-end rate (measured first when neither it nor --rate is at hand)."""
        self.max_rate = self.max_rate or self.args.rate or 0.0
        if not self.max_rate:
            self.end_to_end()
        self.add(bench_latency(self.folder) + bench_latency_at_load(self.folder, self.max_rate))

    def batch_size(self) -> None:
        self.report.batch_sizes = bench_batch_sizes(self.folder, self.workload())


PARTS: dict[str, Callable[[Bench], None]] = {
    "stages": lambda bench: bench.add(bench_stages()),
    "sessions": lambda bench: bench.add(bench_sessions()),
    "fingerprint": lambda bench: bench.add(bench_fingerprint().rows()),
    "inserts": lambda bench: bench.add(bench_inserts(bench.folder)),
    "end-to-end": Bench.end_to_end,
    "latency": Bench.latency,
    "scaling": lambda bench: bench.add(bench_scaling(bench.folder, bench.workload())),
    "batch-size": Bench.batch_size,
    "state": lambda bench: bench.add(bench_state_memory(bench.folder, bench.args.sessions)),
    "three-way": lambda bench: bench.add(bench_three_way(bench.folder)),
}
NO_BROKER = ("stages", "sessions", "fingerprint", "inserts")


def run_parts(parts: list[str], folder: Path, args: argparse.Namespace) -> Report:
    """The chosen parts, in the order of ``PARTS``, each timed."""
    bench = Bench(folder, args)
    for part in (part for part in PARTS if part in parts):
        print(f"bench: {part} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        PARTS[part](bench)
        bench.report.seconds[part] = time.perf_counter() - started
    return bench.report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="Where to write the report (BENCHMARKS.md unless --only).")
    parser.add_argument("--skip-kafka", action="store_true", help="Only the parts that need no broker.")
    parser.add_argument("--only", action="append", choices=PARTS, help="Run this part (repeat for more).")
    parser.add_argument("--rate", type=float, help="Latency at load: the maximum events/s to take half of "
                        "(default: measured by the end-to-end part).")  # fmt: skip
    parser.add_argument("--sessions", type=int, default=SESSION_KEYS, help="Open sessions for the real worker.")
    parser.add_argument("--devices", type=int, default=SCALING_DEVICES, help="Devices of the scaling topic.")
    args = parser.parse_args()
    parts = args.only or [part for part in PARTS if part in NO_BROKER or not args.skip_kafka]
    out = args.out or (None if args.only else Path("BENCHMARKS.md"))
    with tempfile.TemporaryDirectory() as tmp:
        report = run_parts(parts, Path(tmp), args)
    text = render(report)
    if out:
        out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
