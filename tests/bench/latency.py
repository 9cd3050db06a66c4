"""Event to warehouse: how long until a query sees an event, in an idle worker and at load.

The worker writes to chDB behind the HTTP fixture (in this process), so the bench can read while
the worker writes; batches close after 0.2 s and the leader refreshes pool minutes every second
(15 s by default). Each probe is one agent sample from its own device for a product of its own
license pool, timed from the moment it is handed to the producer until a query sees its session
in ``usage_sessions`` and its device counted in its pool's minute in ``pool_usage_1m``.

At load, a producer sends the end-to-end row's kind of traffic (a simulated day, envelopes of
50) at a steady rate, each message's events moved in time so its last event is the moment it is
sent, as an agent uploading its buffer; probes go out every half second through it. They share
one message key, so they are read in the order sent, and a probe counts as seen in a pool's
minute once that minute counts every probe device up to it; no background event is of a probe's
products.

    python -m tests.bench.run --only latency [--rate N]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from schemas.settings import KafkaSettings, WarehouseSettings
from schemas.usage import ExecutableRef, UsageEvent, UsageKind, UsageSource
from sinks.clickhouse.warehouse import connect_warehouse
from sinks.kafka.client import produce
from sinks.kafka.security import client_options
from streams.pipeline.batch import default_matcher
from streams.pipeline.name.catalog_rows import catalog_product_rows
from streams.pipeline.name.fingerprint import load_catalog
from streams.pipeline.name.product import name_product
from streams.tools.simulate import simulate_day
from tests.bench.peers.rollup import events_of
from tests.bench.scaling import BENCH_PASSWORD, cpu_seconds, make_topics, warehouse_server
from tests.bench.three_way import BATCHES, EVENTS_CONSUMED, MESSAGES_CONSUMED
from tests.integration.harness import Pipeline, Worker, agent_sample

LATENCY_EXECUTABLES = (
    *("acad.exe", "Revit.exe", "Inventor.exe", "maya.exe", "3dsmax.exe", "Photoshop.exe"),
    *("Illustrator.exe", "POWERPNT.EXE", "ONENOTE.EXE", "MSACCESS.EXE", "VISIO.EXE", "WINPROJ.EXE"),
)
WARM_UP_EXECUTABLE = "chrome.exe"  # in no probe pool
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()
LOAD_SECONDS = 60.0
PROBE_EVERY = 0.5
PROBE_KEY = b"latency-probes"
FLUSH_SECONDS = "seatmeter_warehouse_flush_seconds_sum"
SESSIONS_SQL = "SELECT DISTINCT device_id FROM usage_sessions WHERE device_id IN {devices:Array(String)}"
POOLS_SQL = (
    "SELECT pool_id, toUnixTimestamp(minute), running_devices FROM pool_usage_1m "
    "WHERE pool_id IN {pools:Array(String)} AND minute >= fromUnixTimestamp({since:UInt32})"
)


@dataclass
class Rig:
    """A pipeline whose worker writes to a warehouse server holding one pool per probe product."""

    pipeline: Pipeline
    client: Client
    pools: dict[str, str]
    kafka: KafkaSettings

    def start_worker(self) -> Worker:
        worker = self.pipeline.start_worker()
        asyncio.run(produce(self.kafka, self.pipeline.topic, [probe_message("warm-up", WARM_UP_EXECUTABLE)]))
        worker.wait_metric(MESSAGES_CONSUMED, 1, timeout=120)
        time.sleep(3)
        return worker


@contextmanager
def latency_rig(folder: Path, executables: tuple[str, ...] = LATENCY_EXECUTABLES) -> Iterator[Rig]:
    """The warehouse server, the pools (``probe-<n>``, one product each) and a pipeline to it."""
    folder.mkdir(parents=True, exist_ok=True)
    with warehouse_server(folder) as url:
        pipeline = Pipeline(root=folder, warehouse_url=url, extra_env={
            "SEATMETER_WAREHOUSE__PASSWORD": BENCH_PASSWORD, "SEATMETER_ALERTS__EVALUATE_EVERY_SECONDS": "1",
            "SEATMETER_WORKER__BATCH_MAX_SECONDS": "0.2"})  # fmt: skip
        pipeline.extra_env["SEATMETER_KAFKA__ENTITLEMENTS_TOPIC"] = f"{pipeline.name}.entitlements"
        pools = {exe: f"probe-{number}" for number, exe in enumerate(executables)}
        entitlements = folder / "pools.csv"
        entitlements.write_text(_pools_csv(pools))
        pipeline.cli("import", "entitlements", str(entitlements))
        client = connect_warehouse(WarehouseSettings(url=url, password=SecretStr(BENCH_PASSWORD)))
        try:
            yield Rig(pipeline, client, pools, make_topics(pipeline))
        finally:
            client.close()


def _pools_csv(pools: dict[str, str]) -> str:
    ids = {r.product: r.product_id for r in catalog_product_rows(load_catalog())}
    header = "pool_id,name,products,suites,license_model,seats,unit_cost,currency,term_start,term_end,renewal_date,"
    lines = [header + "cost_centres,vendor,contract_ref,notes"]
    for exe, pool in pools.items():
        lines.append(f"{pool},Pool {pool},{ids[product_of(exe)]},,per_device,100,1,USD,,,,,V,C,")
    return "\n".join(lines) + "\n"


def product_of(exe: str) -> str:
    event = UsageEvent("p", UsageSource.AGENT, "bench", datetime.now(UTC), "u", UsageKind.SAMPLE,
                       executable=ExecutableRef(path=f"/opt/{exe}", file_name=exe))  # fmt: skip
    return name_product(event, default_matcher()).product  # type: ignore[union-attr]


def probe_message(device: str, exe: str, at: datetime | None = None) -> tuple[bytes, bytes]:
    moment = at or datetime.now(UTC)
    return agent_sample(device, f"CORP\\{device}", exe, moment, f"{device}-{time.time_ns()}", 30)


def bench_latency(folder: Path) -> list[tuple[str, str]]:
    """One probe at a time into a running, caught-up worker."""
    to_sessions, to_pools = [], []
    with latency_rig(folder / "latency") as rig:
        worker = rig.start_worker()
        try:
            for exe, pool in rig.pools.items():
                device, started = f"idle-{pool}", time.perf_counter()
                asyncio.run(produce(rig.kafka, rig.pipeline.topic, [probe_message(device, exe)]))
                _poll(rig.client, "SELECT count() FROM usage_sessions WHERE device_id = {v:String}", device)
                to_sessions.append(time.perf_counter() - started)
                _poll(rig.client, "SELECT count() FROM pool_usage_1m WHERE pool_id = {v:String}", pool)
                to_pools.append(time.perf_counter() - started)
        finally:
            worker.stop()
    n = len(LATENCY_EXECUTABLES)
    return [
        (f"event to `usage_sessions`, {n} single events into a running worker",
         f"median {statistics.median(to_sessions):.2f} s, max {max(to_sessions):.2f} s"),
        (f"event to `pool_usage_1m` (leader refresh every 1 s), same {n} events",
         f"median {statistics.median(to_pools):.2f} s, max {max(to_pools):.2f} s"),
    ]  # fmt: skip


def _poll(client: Client, sql: str, value: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.query(sql, parameters={"v": value}).result_rows[0][0]:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{value} did not appear within {timeout}s")


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe at load: its device and pool, the last minute its sample covers (epoch s), how
    many probe devices that minute of its pool counts once it is in, and when it was sent."""

    device: str
    pool: str
    minute: int
    expected: int
    sent: float


@dataclass
class Watch:
    """Polls the warehouse every 50 ms from a thread; notes, per probe device, the seconds from
    its sending until a query first saw it in ``usage_sessions`` and in ``pool_usage_1m``."""

    client: Client
    probes: list[Probe] = field(default_factory=list)
    to_sessions: dict[str, float] = field(default_factory=dict)
    to_pools: dict[str, float] = field(default_factory=dict)
    stopped: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            self.look()

    def look(self) -> None:
        probes = list(self.probes)
        if waiting := [p for p in probes if p.device not in self.to_sessions]:
            found = self.client.query(SESSIONS_SQL, parameters={"devices": [p.device for p in waiting]}).result_rows
            self._saw({row[0] for row in found}, waiting, self.to_sessions)
        if waiting := [p for p in probes if p.device not in self.to_pools]:
            asked = {"pools": sorted({p.pool for p in waiting}), "since": min(p.minute for p in waiting)}
            counts = {(pool, int(m)): int(n) for pool, m, n in self.client.query(POOLS_SQL, asked).result_rows}
            counted = {p.device for p in waiting if counts.get((p.pool, p.minute), 0) >= p.expected}
            self._saw(counted, waiting, self.to_pools)

    @staticmethod
    def _saw(devices: set[str], waiting: list[Probe], seconds: dict[str, float]) -> None:
        now = time.perf_counter()
        seconds.update((p.device, now - p.sent) for p in waiting if p.device in devices)

    def wait_for_all(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (seen := min(len(self.to_sessions), len(self.to_pools))) < len(self.probes):
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.probes) - seen} of {len(self.probes)} probes not seen "
                                     f"{timeout:g}s after the load")  # fmt: skip
            time.sleep(0.1)


@dataclass(frozen=True, slots=True)
class Load:
    """What the producer offered: a steady rate of ``background`` events, with probes."""

    background: list[tuple[bytes, bytes]]
    rate: float
    executables: tuple[str, ...]
    pools: dict[str, str]
    seconds: float = LOAD_SECONDS


def background_for(rate: float, seconds: float = LOAD_SECONDS) -> list[tuple[bytes, bytes]]:
    """A simulated day of enough devices (about 2,900 events each) to last the load without repeats."""
    return simulate_day(3, int(rate * seconds / 2_500) + 1, YESTERDAY, envelope_size=50).messages


def probe_executables(background: list[tuple[bytes, bytes]]) -> tuple[str, ...]:
    """The latency executables whose products no background event uses."""
    names = {e["executable"]["file_name"] for _, value in background for e in events_of(orjson.loads(value))}
    used = {product_of(name) for name in names}
    return tuple(exe for exe in LATENCY_EXECUTABLES if product_of(exe) not in used)


def restamped(value: bytes, at: datetime) -> tuple[int, bytes]:
    """A message's events moved in time so that its last one is at ``at``; and how many there are."""
    document = orjson.loads(value)
    events = events_of(document)
    shift = at - max(datetime.fromisoformat(e["event_time"]) for e in events)
    for event in events:
        event["event_time"] = (datetime.fromisoformat(event["event_time"]) + shift).isoformat()
    return len(events), orjson.dumps(document)


async def offer(kafka: KafkaSettings, topic: str, load: Load, watch: Watch) -> tuple[int, int]:
    """Send the load for its seconds, probes every ``PROBE_EVERY`` from the fifth second on;
    returns the background events and messages sent."""
    producer = AIOKafkaProducer(
        **client_options(kafka), acks="all", linger_ms=5, max_request_size=kafka.max_message_bytes
    )
    await producer.start()
    try:
        started, events, messages = time.perf_counter(), 0, 0
        while (elapsed := time.perf_counter() - started) < load.seconds:
            while events < load.rate * elapsed:
                key, value = load.background[messages % len(load.background)]
                count, value = restamped(value, datetime.now(UTC))
                await producer.send(topic, value=value, key=key)
                events, messages = events + count, messages + 1
            if elapsed >= 5 + len(watch.probes) * PROBE_EVERY:
                await _send_probe(producer, topic, load, watch)
            await asyncio.sleep(0.005)
        await producer.flush()
    finally:
        await producer.stop()
    return events, messages


async def _send_probe(producer: AIOKafkaProducer, topic: str, load: Load, watch: Watch) -> None:
    number = len(watch.probes)
    exe = load.executables[number % len(load.executables)]
    now = datetime.now(UTC)
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    minute = int(at.timestamp() * 1000 - 1) // 60_000 * 60
    pool, device = load.pools[exe], f"load-{number}"
    expected = 1 + sum(p.pool == pool and p.minute == minute for p in watch.probes)
    _, value = probe_message(device, exe, at)
    watch.probes.append(Probe(device, pool, minute, expected, time.perf_counter()))
    await producer.send(topic, value=value, key=PROBE_KEY)


def bench_latency_at_load(folder: Path, max_rate: float, seconds: float = LOAD_SECONDS) -> list[tuple[str, str]]:
    """Probes through ``seconds`` of steady load at half ``max_rate`` (the worker's end-to-end events/s)."""
    background = background_for(max_rate / 2, seconds)
    executables = probe_executables(background)
    with latency_rig(folder / "latency-load", executables) as rig:
        load, watch = Load(background, max_rate / 2, executables, rig.pools, seconds), Watch(rig.client)
        worker = rig.start_worker()
        poller = threading.Thread(target=watch.run, name="latency-watch", daemon=True)
        try:
            poller.start()
            before = Reading.of(worker)
            events, messages = asyncio.run(offer(rig.kafka, rig.pipeline.topic, load, watch))
            stopped = Reading.of(worker)
            worker.wait_metric(MESSAGES_CONSUMED, 1 + messages + len(watch.probes), timeout=300)
            drained = Reading.of(worker)
            watch.wait_for_all()
        finally:
            watch.stopped.set()
            poller.join()
            worker.stop()
    return [
        (f"load for the latency probes, half the end-to-end row's {max_rate:,.0f} events/s",
         _load_cell(events, messages, seconds, (before, stopped, drained))),
        (f"event to `usage_sessions` at that load, {len(watch.probes)} probes",
         spread(list(watch.to_sessions.values()))),
        (f"event to `pool_usage_1m` at that load (leader refresh every 1 s), {len(executables)} pools",
         spread(list(watch.to_pools.values()))),
    ]  # fmt: skip


def _load_cell(events: int, messages: int, seconds: float, readings: tuple[Reading, Reading, Reading]) -> str:
    """What was offered, how far behind the worker was at the end, its batches and writes, the CPU used."""
    before, stopped, drained = readings
    batches = max(drained.batches - before.batches, 1)
    return (
        f"{events / seconds:,.0f} events/s offered for {seconds:.0f} s ({events:,} events in {messages:,} messages); "
        f"{(stopped.events - before.events) / events:.0%} counted when the producer stopped, all "
        f"{drained.at - stopped.at:.1f} s later, in {batches:,.0f} batches with "
        f"{(drained.flushing - before.flushing) / batches:.2f} s of warehouse writes each; CPU: the worker "
        f"{(stopped.worker_cpu - before.worker_cpu) / seconds:.2f} of a core, the bench process (producer, "
        f"warehouse server, poller) {(stopped.own_cpu - before.own_cpu) / seconds:.2f}"
    )


@dataclass(frozen=True, slots=True)
class Reading:
    """The worker's counts and CPU, and this process's CPU, at one moment."""

    at: float
    events: float
    batches: float
    flushing: float
    worker_cpu: float
    own_cpu: float

    @classmethod
    def of(cls, worker: Worker) -> Reading:
        events, batches, flushing = (worker.metric(name) for name in (EVENTS_CONSUMED, BATCHES, FLUSH_SECONDS))
        return cls(time.perf_counter(), events, batches, flushing, cpu_seconds(worker.process.pid), own_cpu())


def own_cpu() -> float:
    """User plus system seconds of this process, all its threads."""
    times = os.times()
    return times.user + times.system


def spread(seconds: list[float]) -> str:
    p99 = statistics.quantiles(seconds, n=100, method="inclusive")[98]
    return f"median {statistics.median(seconds):.2f} s, p99 {p99:.2f} s (n={len(seconds)}), max {max(seconds):.2f} s"
