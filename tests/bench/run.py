"""`make bench`: measure the hot path and write BENCHMARKS.md.

Medians of repeated runs; the machine is shared and noisy, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from schemas.records import SourceRecord
from schemas.settings import KafkaSettings, SessionSettings, WarehouseSettings
from schemas.usage import ExecutableRef, UsageEvent, UsageKind, UsageSource
from sinks.clickhouse.migrate import apply_migrations
from sinks.clickhouse.warehouse import connect_warehouse
from sinks.clickhouse.writers import ProductUsageWriter
from sinks.kafka.client import ensure_topics, pipeline_topics, produce
from streams.pipeline.admit.door import Door, DoorPolicy
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.aggregate.minutes import epoch_ms
from streams.pipeline.batch import default_matcher, ingest_batch
from streams.pipeline.name.catalog_rows import catalog_product_rows
from streams.pipeline.name.fingerprint import load_catalog
from streams.pipeline.name.product import name_product
from streams.pipeline.sessionize.sessions import build_session_rules, sessionize_batch
from streams.tools.simulate import simulate_day
from tests.bench.bench_fingerprint import bench_fingerprint
from tests.bench.three_way import bench_three_way
from tests.integration.harness import BOOTSTRAP, KAFKA, Pipeline, agent_sample
from tests.support.chdb_http import ChdbHttpServer

REPEATS = 5
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
KEY = PseudonymKey("bench", b"bench-key")
DOOR = Door(DoorPolicy())
NOW = datetime.now(UTC)


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
    traffic = simulate_day(1, 60, YESTERDAY, envelope_size=50)
    enveloped = records_from(traffic.messages)
    singles = records_from(simulate_day(1, 60, YESTERDAY, envelope_size=1).messages)
    rows = []
    for name, batch in (("envelopes of 50 events", enveloped), ("one event per message", singles)):
        seconds = median_seconds(lambda batch=batch: ingest_batch(batch, {}, KEY, DOOR, NOW))
        rows.append((f"ingest batch step, {name}", f"{traffic.events / seconds:,.0f} events/s"))
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
        seconds = median_seconds(lambda chunk=chunk: writer.write(client, chunk))
        rows.append((f"chDB insert, {size:,} rollup rows per INSERT", f"{size / seconds:,.0f} rows/s"))
    client.close()
    return rows


def bench_end_to_end(folder: Path) -> list[tuple[str, str]]:
    """One worker process from a pre-filled topic to the warehouse: the whole hot path."""
    pipeline = Pipeline(root=folder, warehouse_url=f"chdb://{folder / 'e2e'}")
    traffic = simulate_day(3, 150, YESTERDAY, envelope_size=50)
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
    what = f"worker end to end (Kafka -> chDB), {traffic.events:,} events in envelopes of 50"
    return [(what, f"{traffic.events / seconds:,.0f} events/s (one run, first batch to last)")]


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


LATENCY_EXECUTABLES = (
    *("acad.exe", "Revit.exe", "Inventor.exe", "maya.exe", "3dsmax.exe", "Photoshop.exe"),
    *("Illustrator.exe", "POWERPNT.EXE", "ONENOTE.EXE", "MSACCESS.EXE", "VISIO.EXE", "WINPROJ.EXE"),
)
BENCH_PASSWORD = "bench"  # noqa: S105 - a loopback fixture's password


def bench_latency(folder: Path) -> list[tuple[str, str]]:
    """Event to warehouse: one event at a time into a running, caught-up worker (warehouse over
    HTTP, so the bench can read while the worker writes), timed until its session is in
    ``usage_sessions`` and until its pool's minute is in ``pool_usage_1m``."""
    server = ChdbHttpServer(str(folder / "latency-wh"), password=BENCH_PASSWORD).start()
    host = server.url.rsplit("@", 1)[-1]
    names = {e: name_product(_probe_event(e), default_matcher()) for e in LATENCY_EXECUTABLES}
    ids = {r.product: r.product_id for r in catalog_product_rows(load_catalog())}
    pipeline = Pipeline(
        root=folder / "latency",
        warehouse_url=f"http://{host}",
        extra_env={"SEATMETER_WAREHOUSE__PASSWORD": "bench", "SEATMETER_ALERTS__EVALUATE_EVERY_SECONDS": "1",
                   "SEATMETER_WORKER__BATCH_MAX_SECONDS": "0.2"},
    )  # fmt: skip
    pipeline.root.mkdir(parents=True, exist_ok=True)
    pipeline.extra_env["SEATMETER_KAFKA__ENTITLEMENTS_TOPIC"] = f"{pipeline.name}.entitlements"
    entitlements = pipeline.root / "pools.csv"
    header = "pool_id,name,products,suites,license_model,seats,unit_cost,currency,term_start,term_end,renewal_date,"
    lines = [header + "cost_centres,vendor,contract_ref,notes"]
    for number, exe in enumerate(LATENCY_EXECUTABLES):
        product_id = ids[names[exe].product]  # type: ignore[union-attr]
        lines.append(f"probe-{number},Probe {number},{product_id},,per_device,100,1,USD,,,,,V,C,")
    entitlements.write_text("\n".join(lines) + "\n")
    pipeline.cli("import", "entitlements", str(entitlements))
    client = connect_warehouse(WarehouseSettings(url=f"http://{host}", password=SecretStr("bench")))
    worker = pipeline.start_worker()
    to_sessions, to_pools = [], []
    try:
        asyncio.run(produce(KAFKA, pipeline.topic, [_probe("warm-up", "acad.exe")]))
        worker.wait_metric("seatmeter_messages_consumed_total", 1, timeout=120)
        time.sleep(3)
        for number, exe in enumerate(LATENCY_EXECUTABLES):
            device = f"probe-{number}"
            started = time.perf_counter()
            asyncio.run(produce(KAFKA, pipeline.topic, [_probe(device, exe)]))
            _poll(client, "SELECT count() FROM usage_sessions WHERE device_id = {v:String}", device)
            to_sessions.append(time.perf_counter() - started)
            _poll(client, "SELECT count() FROM pool_usage_1m WHERE pool_id = {v:String}", f"probe-{number}")
            to_pools.append(time.perf_counter() - started)
    finally:
        worker.stop()
        client.close()
        server.stop()
    n = len(LATENCY_EXECUTABLES)
    return [
        (f"event to `usage_sessions`, {n} single events into a running worker",
         f"median {statistics.median(to_sessions):.2f} s, max {max(to_sessions):.2f} s"),
        (f"event to `pool_usage_1m` (leader refresh every 1 s), same {n} events",
         f"median {statistics.median(to_pools):.2f} s, max {max(to_pools):.2f} s"),
    ]  # fmt: skip


def _probe_event(exe: str) -> UsageEvent:
    return UsageEvent("p", UsageSource.AGENT, "bench", NOW, "u", UsageKind.SAMPLE,
                      executable=ExecutableRef(path=f"/opt/{exe}", file_name=exe))  # fmt: skip


def _probe(device: str, exe: str) -> tuple[bytes, bytes]:
    return agent_sample(device, f"CORP\\{device}", exe, datetime.now(UTC), f"{device}-{time.time_ns()}", 30)


def _poll(client: Client, sql: str, value: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.query(sql, parameters={"v": value}).result_rows[0][0]:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{value} did not appear within {timeout}s")


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


def render(rows: list[tuple[str, str]]) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m tests.bench.run --out BENCHMARKS.md`); "
        f"medians of {REPEATS} runs unless noted. The machines are shared and noisy: compare ratios within one run.",
        "",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or 'uncommitted'}",
        f"- machine: {machine()}",
        "",
        "| what | result |",
        "| --- | --- |",
        *(f"| {what} | {result} |" for what, result in rows),
        "",
        "## What the rows measure",
        "",
        "- **ingest batch step**: the pure stages (decode, rules at the door, de-duplication, pseudonymization,",
        "  product naming by the catalog, per-minute aggregation) over one simulated working day of 60 devices (about",
        "  175,000 events) as one batch, on one core. The whole day in one batch makes about 50,000 rollup",
        "  rows; the per-event share is dominated by pydantic validation and building the normalized event.",
        "  This is below the 140k events/s that the walking-skeleton issue measured for simpler logic, and",
        "  is the first place to optimise.",
        "- **fingerprint**: the catalog matcher (`seatmeter catalog fingerprint`) on a mix of repeated and new",
        "  executables, CPU time per core.",
        "- **chDB insert**: one column-oriented INSERT of rollup rows (two string arrays each) into the",
        "  embedded engine; rows with arrays insert slower than flat rows.",
        "- **worker end to end**: one `seatmeter worker` process (Faust, one core for Python) from a",
        "  pre-filled topic to the embedded warehouse, including dead letters, commits, the local",
        "  record of counted events and session state (Faust table, changelog); a single run, timed",
        "  from its first batch to its last.",
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
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--skip-kafka", action="store_true", help="Skip the end-to-end run through the broker.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_stages() + bench_sessions() + bench_fingerprint().rows() + bench_inserts(Path(tmp))
        if not args.skip_kafka:
            rows += bench_end_to_end(Path(tmp)) + bench_latency(Path(tmp)) + bench_three_way(Path(tmp))
    text = render(rows)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
