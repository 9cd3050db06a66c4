"""Seatmeter beside two peers, end to end on one pre-filled topic (issue 14).

The topic is produced once with a simulated working day (``simulate_day``: envelopes of events
per message, some messages of single events); then, for each round, each implementation reads
all of it with a fresh consumer group into a fresh chDB warehouse in its own process:

1. ``seatmeter worker``, the product, started as ``bench_end_to_end`` starts it;
2. a Quix Streams 3.x job (``tests.bench.peers.quix_rollup``);
3. a raw aiokafka loop (``tests.bench.peers.raw_loop``).

The peers do the core job only (decode, minimal checks, per-minute per-product rollup, one
INSERT per batch); seatmeter also names products by its catalog, validates against its schema,
pseudonymizes users, records counted events and session state, and writes sessions, arrivals
and its record of progress. The rounds interleave, in a rotated order each round, so that noise
from the shared machine falls on all three; the figures are medians. Every run's totals (events,
active time, user-minutes) are read back from its warehouse and held to the producer's ledger: a
run that differs raises.

Rates: a peer's events over the seconds from its first message to its last insert. Seatmeter's
events over the seconds from its log's "Worker ready" (partitions assigned, the topic waiting)
to the moment its metrics, which count a batch once its rows are written, count every message;
its start-up before that is not timed, as a peer's is not.

quixstreams 3.28.1 requires pydantic < 2.14 and pydantic-settings < 2.16, below the project's
pins, so it cannot share the project's environment: its packages are installed once, with pip,
into ``.cache/bench-quix`` and put first on the path of the Quix peer's process only.

    python -m tests.bench.three_way [--rounds 3] [--devices 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.settings import KafkaSettings
from sinks.kafka.client import ensure_topics, pipeline_topics, produce
from streams.tools.simulate import simulate_day
from tests.bench.peers.rollup import PeerReport, Totals, check_totals, ledger
from tests.integration.harness import BOOTSTRAP, REPO, Pipeline, Worker

SEED = 14
DEVICES = 100
ENVELOPE_SIZE = 30
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
QUIX_VERSION = "3.28.1"
QUIX_PACKAGES = (f"quixstreams=={QUIX_VERSION}", "confluent-kafka==2.12.2")
QUIX_SITE = REPO / ".cache" / "bench-quix"
MESSAGES_CONSUMED = "seatmeter_messages_consumed_total"
EVENTS_CONSUMED = "seatmeter_events_consumed_total"
BATCHES = "seatmeter_batch_messages_count"
READY_LINE = "[^---Recovery]: Worker ready"
SEATMETER, QUIX, RAW = "seatmeter", "quix", "raw"
SEATMETER_TOTALS_SQL = "SELECT sum(event_count) AS events, sum(active_ms) AS active_ms FROM product_usage_1m_parts"
SEATMETER_USER_MINUTES_SQL = "SELECT sum(active_users) AS user_minutes FROM product_usage_per_minute"


@dataclass(frozen=True, slots=True)
class Workload:
    """The pre-filled topic every run reads, and what the producer's ledger says it holds."""

    topic: str
    messages: int
    partitions: int
    envelope_size: int
    expected: Totals


@dataclass(frozen=True, slots=True)
class Run:
    """One implementation's timed run: the events its timing covers, and how it wrote them."""

    implementation: str
    version: str
    events: int
    seconds: float
    writes: str

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def produce_workload(devices: int, envelope_size: int = ENVELOPE_SIZE) -> Workload:
    """A fresh topic (with the worker's dead-letter and late-events topics) holding one simulated day."""
    traffic = simulate_day(SEED, devices, YESTERDAY, envelope_size=envelope_size)
    expected = ledger(traffic.messages)
    if expected.events != traffic.events:
        raise AssertionError(f"the ledger counts {expected.events:,} events, the simulator {traffic.events:,}")
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, agent_topic=f"bench3-{uuid.uuid4().hex[:10]}.agent-usage")
    asyncio.run(ensure_topics(kafka, pipeline_topics(kafka)))
    asyncio.run(produce(kafka, kafka.agent_topic, traffic.messages))
    return Workload(kafka.agent_topic, len(traffic.messages), kafka.topic_partitions, envelope_size, expected)


def run_seatmeter(workload: Workload, folder: Path) -> Run:
    """One ``seatmeter worker`` with its own group, state and warehouse; its totals are read back
    with ``seatmeter sql`` once it has stopped (chDB lets one process hold a warehouse)."""
    folder.mkdir(parents=True)
    pipeline = Pipeline(
        root=folder,
        warehouse_url=f"chdb://{folder / 'warehouse'}",
        extra_env={"SEATMETER_KAFKA__AGENT_TOPIC": workload.topic},
    )
    worker = pipeline.start_worker()
    try:
        worker.wait_metric(MESSAGES_CONSUMED, 1, timeout=180)
        first_batch, counted_by_then = time.time(), worker.metric(EVENTS_CONSUMED)
        _wait_for_every_message(worker, workload.messages)
        ended, counted = time.time(), worker.metric(EVENTS_CONSUMED)
        batches = worker.metric(BATCHES)
    finally:
        worker.stop()
    seconds = ended - _ready_at(folder / f"{worker.name}.log")
    after_first = (counted - counted_by_then) / max(ended - first_batch, 0.001)
    totals_row = pipeline.query(SEATMETER_TOTALS_SQL)[0]
    user_minutes = pipeline.query(SEATMETER_USER_MINUTES_SQL)[0]["user_minutes"]
    totals = Totals(int(totals_row["events"]), int(totals_row["active_ms"]), int(user_minutes))
    check_totals("seatmeter worker", totals, workload.expected)
    return Run(
        SEATMETER, "", int(counted), seconds, f"{batches:,.0f} batches, {after_first:,.0f} events/s after the first"
    )


def _ready_at(log: Path) -> float:
    """When the worker logged "Worker ready" (Unix time; the log stamps local time to the ms)."""
    for line in log.read_text(errors="replace").splitlines():
        if line.rstrip().endswith(READY_LINE):
            return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise AssertionError(f"no {READY_LINE!r} in {log}")


def _wait_for_every_message(worker: Worker, messages: int, timeout: float = 900) -> None:
    """Poll the worker's metrics slowly (each scrape costs the worker CPU) until the last tenth,
    then often, so that the end is seen within 50 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.assert_alive()
        consumed = worker.metric(MESSAGES_CONSUMED)
        if consumed >= messages:
            return
        time.sleep(0.5 if consumed < 0.9 * messages else 0.05)
    raise AssertionError(f"the worker consumed fewer than {messages:,} messages in {timeout:g}s:\n{worker.stacks()}")


def run_peer(implementation: str, workload: Workload, folder: Path) -> Run:
    """One peer process with a fresh group and warehouse; it prints one JSON line (its log, the
    rest of what it writes, goes to ``peer.log``)."""
    folder.mkdir(parents=True)
    module, env = ("quix_rollup", quix_environment()) if implementation == QUIX else ("raw_loop", dict(os.environ))
    command = [sys.executable, "-m", f"tests.bench.peers.{module}", "--topic", workload.topic]
    command += ["--group", f"bench3-{implementation}-{uuid.uuid4().hex[:10]}", "--warehouse", str(folder / "warehouse")]
    command += ["--expect-messages", str(workload.messages), "--bootstrap", BOOTSTRAP]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    (folder / "peer.log").write_text(done.stdout + done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise AssertionError(f"{module} exited with {done.returncode}:\n{done.stderr[-4000:]}")
    report = PeerReport.from_line(lines[-1])
    check_totals(report.implementation, report.totals, workload.expected)
    if report.messages != workload.messages or report.rejected:
        raise AssertionError(f"{module} read {report.messages:,} messages and rejected {report.rejected:,} events")
    return Run(implementation, report.version, report.events, report.seconds, f"{report.inserts:,} inserts")


def quix_environment() -> dict[str, str]:
    """The environment of the Quix peer: its own packages (installed on first use) first on the
    path, ahead of the project's, which still provide chDB and clickhouse-connect."""
    if not (QUIX_SITE / f"quixstreams-{QUIX_VERSION}.dist-info").is_dir():
        print(f"installing {' '.join(QUIX_PACKAGES)} into {QUIX_SITE}", file=sys.stderr)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", "--target", str(QUIX_SITE)]
        subprocess.run([*pip, *QUIX_PACKAGES], check=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(QUIX_SITE), env.get("PYTHONPATH", "")) if p)
    return env


def bench_three_way(folder: Path, rounds: int = 3, devices: int = DEVICES) -> list[tuple[str, str]]:
    """``rounds`` interleaved rounds of the three over one topic; medians, ratios, the workload."""
    quix_environment()
    workload = produce_workload(devices)
    order = [SEATMETER, QUIX, RAW]
    runs: dict[str, list[Run]] = {name: [] for name in order}
    for number in range(rounds):
        for implementation in order[number % 3 :] + order[: number % 3]:
            where = folder / f"three-way-{number}-{implementation}"
            if implementation == SEATMETER:
                run = run_seatmeter(workload, where)
            else:
                run = run_peer(implementation, workload, where)
            runs[implementation].append(run)
            print(
                f"round {number + 1}, {implementation}: {run.events:,} events timed, {run.seconds:.2f} s, "
                f"{run.rate:,.0f} events/s, {run.writes}; totals match the ledger",
                file=sys.stderr,
                flush=True,
            )
    medians = {name: statistics.median(run.rate for run in done) for name, done in runs.items()}
    quix_version = ".".join(runs[QUIX][0].version.split(".")[:2])
    expected = workload.expected
    return [
        (
            "three-way workload",
            f"{expected.events:,} events in {workload.messages:,} messages (envelopes of {workload.envelope_size}), "
            f"{workload.partitions} partitions; every run's totals matched the ledger",
        ),
        ("end to end, seatmeter worker", _rate_cell(runs[SEATMETER], medians[SEATMETER])),
        (f"end to end, Quix Streams {quix_version} peer", _rate_cell(runs[QUIX], medians[QUIX])),
        ("end to end, raw aiokafka loop", _rate_cell(runs[RAW], medians[RAW])),
        ("seatmeter / Quix Streams", f"{medians[SEATMETER] / medians[QUIX]:.2f}x"),
        ("seatmeter / raw loop", f"{medians[SEATMETER] / medians[RAW]:.2f}x"),
    ]


def _rate_cell(runs: list[Run], median: float) -> str:
    rates = [run.rate for run in runs]
    return f"{median:,.0f} events/s (median of {len(runs)}; {min(rates):,.0f} to {max(rates):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--devices", type=int, default=DEVICES, help="Simulated devices (about 2,900 events each).")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_three_way(Path(tmp), args.rounds, args.devices)
    print("| what | result |\n| --- | --- |")
    print("\n".join(f"| {what} | {result} |" for what, result in rows))
    print(f"\n({time.perf_counter() - started:,.0f} s in all)", file=sys.stderr)


if __name__ == "__main__":
    main()
