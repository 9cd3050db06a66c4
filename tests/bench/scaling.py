"""Worker runs over one workload, timed and charged with the CPU their processes used.

Each run reads the whole of one simulated day (``three_way.produce_workload``) with a fresh
consumer group, state and warehouse, and its totals are held to the producer's ledger
afterwards: a run that counted other numbers raises, whatever its speed. The window a run is
timed over opens once every worker of the run has logged "Worker ready" (partitions assigned)
and closes when the workers' metrics, which count a batch once its rows are written, count
every message. A one-worker run may read the pre-filled topic itself; a run of two reads a copy
made once both are ready, so that they split the partitions before the first message rather
than in a rebalance half way through. CPU is user plus system time of the worker processes.

    python -m tests.bench.run --only scaling
    python -m tests.bench.run --only batch-size
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from schemas.settings import KafkaSettings
from sinks.kafka.client import ensure_topics, pipeline_topics, produce, read_to_end
from tests.bench.peers.rollup import Totals, check_totals
from tests.bench.three_way import (
    BATCHES,
    EVENTS_CONSUMED,
    MESSAGES_CONSUMED,
    READY_LINE,
    SEATMETER,
    SEATMETER_TOTALS_SQL,
    SEATMETER_USER_MINUTES_SQL,
    Run,
    Workload,
)
from tests.integration.harness import BOOTSTRAP, KAFKA, Pipeline, Worker
from tests.support.chdb_http import ChdbHttpServer

BENCH_PASSWORD = "bench"  # noqa: S105 - a loopback fixture's password
BATCH_SIZES = (500, 2_000, 5_000, 10_000)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
Feed = Callable[[], None]


def cpu_seconds(pid: int) -> float:
    """User plus system time of a live process, all its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a live process (``VmRSS``, or ``VmHWM`` for its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


@dataclass(frozen=True, slots=True)
class Measured:
    """One run's window (events the workers counted in it, its wall seconds), the CPU seconds
    of its workers and their batches."""

    run: Run
    cpu: float
    batches: float

    @property
    def per_cpu(self) -> float:
        return self.run.events / self.cpu


@dataclass
class Group:
    """The workers of one run, read as one: metrics summed, CPU summed."""

    workers: list[Worker]

    def metric(self, name: str) -> float:
        return sum(worker.metric(name) for worker in self.workers)

    def cpu(self) -> float:
        return sum(cpu_seconds(worker.process.pid) for worker in self.workers)

    def wait_until(self, name: str, at_least: float, timeout: float = 900) -> None:
        """Poll slowly (a scrape costs the workers CPU) until the last tenth, then every 50 ms."""
        deadline = time.monotonic() + timeout
        while (value := self.metric(name)) < at_least:
            for worker in self.workers:
                worker.assert_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} stayed at {value:,.0f} of {at_least:,.0f} for {timeout:g}s")
            time.sleep(0.5 if value < 0.9 * at_least else 0.05)


def measure(pipeline: Pipeline, workload: Workload, workers: int = 1, feed: Feed | None = None) -> Measured:
    """Start ``workers`` workers on the pipeline, time their window, stop them once everything
    is committed and hold the warehouse's totals to the ledger. The window opens once every
    worker is ready; with ``feed``, the pipeline's topic is empty until then and ``feed`` fills it."""
    group = Group([pipeline.start_worker("worker" if n == 0 else f"worker-{n}") for n in range(workers)])
    try:
        for worker in group.workers:
            wait_ready(worker)
        started, cpu, events = time.perf_counter(), group.cpu(), group.metric(EVENTS_CONSUMED)
        if feed:
            feed()
        group.wait_until(MESSAGES_CONSUMED, workload.messages)
        seconds, cpu = time.perf_counter() - started, group.cpu() - cpu
        events, batches = group.metric(EVENTS_CONSUMED) - events, group.metric(BATCHES)
        split = [worker.metric(EVENTS_CONSUMED) for worker in group.workers]
        pipeline.wait_caught_up_or_explain(*group.workers)
    finally:
        for worker in group.workers:
            worker.stop()
    check_totals(f"{workers} worker(s)", read_totals(pipeline), workload.expected)
    run = Run(SEATMETER, "", int(events), seconds, " + ".join(f"{n:,.0f}" for n in split) + " events")
    return Measured(run, cpu, batches)


def wait_ready(worker: Worker, timeout: float = 180) -> None:
    """Until the worker logs that it is ready: it has joined the group and holds its partitions."""
    log, deadline = worker.pipeline.root / f"{worker.name}.log", time.monotonic() + timeout
    while READY_LINE not in log.read_text(errors="replace"):
        worker.assert_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"{worker.name} was not ready within {timeout:g}s:\n{worker.stacks()}")
        time.sleep(0.05)


def copy_onto(pipeline: Pipeline, messages: list[tuple[bytes | None, bytes]]) -> Feed:
    """The pipeline's own topic, made now, and a feed that copies ``messages`` onto it."""
    kafka = make_topics(pipeline)
    return lambda: asyncio.run(produce(kafka, pipeline.topic, messages))


def make_topics(pipeline: Pipeline) -> KafkaSettings:
    """The pipeline's topics (its input with four partitions, dead letters, late events) and
    the settings that reach them."""
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, agent_topic=pipeline.topic)
    asyncio.run(ensure_topics(kafka, pipeline_topics(kafka)))
    return kafka


def read_totals(pipeline: Pipeline) -> Totals:
    """Events, active time and user-minutes in the pipeline's warehouse (``seatmeter sql``)."""
    row = pipeline.query(SEATMETER_TOTALS_SQL)[0]
    user_minutes = pipeline.query(SEATMETER_USER_MINUTES_SQL)[0]["user_minutes"]
    return Totals(int(row["events"]), int(row["active_ms"]), int(user_minutes))


def workload_pipeline(folder: Path, workload: Workload, warehouse_url: str, **env: str) -> Pipeline:
    folder.mkdir(parents=True, exist_ok=True)
    extra_env = {"SEATMETER_KAFKA__AGENT_TOPIC": workload.topic, **env}
    return Pipeline(root=folder, warehouse_url=warehouse_url, extra_env=extra_env)


@contextmanager
def warehouse_server(folder: Path) -> Iterator[str]:
    """A warehouse several workers can share: chDB behind the HTTP fixture, in this process."""
    server = ChdbHttpServer(str(folder / "warehouse"), password=BENCH_PASSWORD).start()
    try:
        yield f"http://{server.url.rsplit('@', 1)[-1]}"
    finally:
        server.stop()


def bench_scaling(folder: Path, workload: Workload, rounds: int = 2) -> list[tuple[str, str]]:
    """One worker and two on the four-partition topic, each run into its own warehouse server,
    in ``rounds`` rounds of alternating order (one, two; two, one; ...); medians."""
    messages = [(r.key, r.value) for r in asyncio.run(read_to_end(KAFKA, workload.topic))]
    runs: dict[int, list[Measured]] = {1: [], 2: []}
    for number in range(rounds):
        for workers in (1, 2) if number % 2 == 0 else (2, 1):
            where = folder / f"scaling-{number}-{workers}"
            with warehouse_server(where) as url:
                pipeline = Pipeline(where, url, extra_env={"SEATMETER_WAREHOUSE__PASSWORD": BENCH_PASSWORD})
                runs[workers].append(measure(pipeline, workload, workers, copy_onto(pipeline, messages)))
            progress(f"scaling, round {number + 1}, {workers} worker(s)", runs[workers][-1])
    per_cpu = {n: statistics.median(run.per_cpu for run in done) for n, done in runs.items()}
    wall = {n: statistics.median(run.run.rate for run in done) for n, done in runs.items()}
    what = f"{workload.expected.events:,} events, {workload.partitions} partitions, totals matched the ledger"
    return [
        *((f"{name}, {what}", scaling_cell(runs[n], per_cpu[n], wall[n])) for n, name in SCALING_RUNS),
        ("two workers / one, events per CPU-second", f"{per_cpu[2] / per_cpu[1]:.2f}x"),
        ("two workers / one, wall clock", f"{wall[2] / wall[1]:.2f}x"),
    ]


SCALING_RUNS = ((1, "one worker"), (2, "two workers"))


def scaling_cell(runs: list[Measured], per_cpu: float, wall: float) -> str:
    low, high = min(r.per_cpu for r in runs), max(r.per_cpu for r in runs)
    return (
        f"{per_cpu:,.0f} events per CPU-second (median of {len(runs)}; {low:,.0f} to {high:,.0f}); "
        f"{wall:,.0f} events/s wall (" + ", ".join(f"{r.run.seconds:.1f} s" for r in runs) + ")"
    )


def bench_batch_sizes(folder: Path, workload: Workload, sizes: Sequence[int] = BATCH_SIZES) -> list[list[str]]:
    """One worker into its embedded warehouse per ``worker.batch_max_messages``: table rows."""
    rows = []
    for size in sizes:
        where = folder / f"batch-{size}"
        pipeline = workload_pipeline(
            where, workload, f"chdb://{where / 'warehouse'}", SEATMETER_WORKER__BATCH_MAX_MESSAGES=str(size)
        )
        run = measure(pipeline, workload)
        progress(f"batch size {size:,}", run)
        batches = max(run.batches, 1)
        per_batch = (workload.messages / batches, workload.expected.events / batches)
        rows.append([f"{size:,}", f"{run.batches:,.0f}", *(f"{n:,.0f}" for n in per_batch), f"{run.run.rate:,.0f}",
                     f"{run.per_cpu:,.0f}"])  # fmt: skip
    return rows


BATCH_SIZE_HEADER = (
    "`worker.batch_max_messages`",
    "batches",
    "messages per batch",
    "events per batch",
    "events/s",
    "events per CPU-second",
)


def progress(what: str, run: Measured) -> None:
    print(f"{what}: {run.run.events:,} events ({run.run.writes}) in {run.run.seconds:.1f} s, {run.cpu:.1f} CPU-s; "
          "totals match the ledger",
          file=sys.stderr, flush=True)  # fmt: skip


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table."""
    return [f"| {' | '.join(header)} |", f"|{' --- |' * len(header)}", *(f"| {' | '.join(row)} |" for row in rows)]
