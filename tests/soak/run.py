"""``make soak``: a worker under a steady simulated fleet for half an hour, with periodic faults.

Every few seconds the worker's RSS and the group's uncommitted messages go to ``samples.csv``; at
the end a plot (``soak.png``, when matplotlib is installed: ``pip install -e '.[soak]'``), a
summary, and two verdicts: memory stayed bounded, and the warehouse holds exactly what the same
traffic replayed offline with no fault gives. Not part of ``make test``: it takes as long as asked.

    python -m tests.soak.run --minutes 30
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

from schemas.settings import KafkaSettings
from sinks.kafka.client import consumed_topics, consumer_group_lag, ensure_topics, pipeline_topics, produce
from streams.tools.simulate import simulate_day
from tests.integration.chaos.faults import poison_messages
from tests.integration.harness import Pipeline, Worker

FAULTS = ("kill -9, then a restart", "a graceful restart (SIGTERM)", "a burst of poison messages")
TOTALS = """
SELECT product, toString(toDate(minute)) AS day, sum(event_count) AS events, toString(sum(active_seconds)) AS active
FROM product_usage_per_minute GROUP BY product, day ORDER BY product, day"""
GZIP_ONLY = {"an envelope of 20,000 events"}
"""Poison that only a gzip producer gets past the broker; the soak's producer sends uncompressed."""
MEMORY_GROWTH_ALLOWED = 1.25
"""The last third's RSS peak may exceed the first third's by at most this factor."""


@dataclass
class Soak:
    """The soak's pipeline (the integration harness's: its own topic, group, state and warehouse)
    and the worker running now."""

    pipeline: Pipeline
    worker: Worker | None = None
    poison_sent: int = 0

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.pipeline.env["SEATMETER_KAFKA__BOOTSTRAP_SERVERS"], agent_topic=self.pipeline.topic
        )

    def start_worker(self) -> None:
        self.worker = self.pipeline.start_worker()

    def stop_worker(self, sig: signal.Signals) -> int:
        assert self.worker is not None
        if sig is signal.SIGKILL:
            self.worker.kill()
            return -9
        return self.worker.stop(timeout=120)

    def rss_mib(self) -> float:
        if self.worker is None or self.worker.process.poll() is not None:
            return 0.0
        for line in Path(f"/proc/{self.worker.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def uncommitted(self) -> int:
        return sum(
            sum(asyncio.run(consumer_group_lag(self.kafka, self.pipeline.name, topic)).values())
            for topic in consumed_topics(self.kafka)
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 30)))
    parser.add_argument("--devices", type=int, default=20, help="devices per simulated day")
    parser.add_argument("--round-seconds", type=float, default=30, help="one simulated day is sent every this often")
    parser.add_argument("--fault-every", type=float, default=180, help="seconds between faults")
    parser.add_argument("--sample-every", type=float, default=5)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(".seatmeter/soak") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    soak = Soak(Pipeline(root, f"chdb://{root / 'warehouse'}", extra_env=soak_env(args.bootstrap)))
    asyncio.run(ensure_topics(soak.kafka, pipeline_topics(soak.kafka)))
    print(f"soak: {args.minutes:g} min into {soak.kafka.agent_topic}; output in {out}", flush=True)
    soak.start_worker()
    samples = run_traffic(soak, args)
    settle(soak)
    assert soak.stop_worker(signal.SIGTERM) == 0, "the worker did not stop cleanly at the end"
    memory_ok = report_memory(samples, out)
    totals_ok = check_totals(soak, root)
    plot(samples, out)
    print(f"soak: {'PASSED' if memory_ok and totals_ok else 'FAILED'}; samples in {out / 'samples.csv'}")
    return 0 if memory_ok and totals_ok else 1


def soak_env(bootstrap: str) -> dict[str, str]:
    """Days up to 400 back are on time (every round sends an earlier day); worker defaults otherwise."""
    return {
        "SEATMETER_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "SEATMETER_INGEST__ALLOWED_LATENESS_SECONDS": str(400 * 86_400),
        "SEATMETER_WORKER__BATCH_MAX_SECONDS": "1",
    }


def run_traffic(soak: Soak, args: argparse.Namespace) -> list[dict[str, float | str]]:
    """Send a simulated day every ``round_seconds`` and inject a fault every ``fault_every``,
    sampling RSS and lag meanwhile, until the time is up."""
    started = time.monotonic()
    next_round = next_fault = next_sample = started
    next_fault += args.fault_every
    day, faults, produced = date.today() - timedelta(days=1), 0, 0
    samples: list[dict[str, float | str]] = []
    with (soak.pipeline.root / "produced.jsonl").open("wb") as ledger:
        while (now := time.monotonic()) - started < args.minutes * 60:
            fault = ""
            if now >= next_round:
                traffic = simulate_day(int(day.strftime("%Y%m%d")), args.devices, day)
                asyncio.run(produce(soak.kafka, soak.kafka.agent_topic, traffic.messages))
                ledger.writelines(orjson.dumps(orjson.loads(value)) + b"\n" for _, value in traffic.messages)
                produced += len(traffic.messages)
                day, next_round = day - timedelta(days=1), next_round + args.round_seconds
            if now >= next_fault:
                fault = inject(soak, FAULTS[faults % len(FAULTS)])
                faults, next_fault = faults + 1, next_fault + args.fault_every
            if now >= next_sample or fault:
                samples.append(sample(soak, now - started, produced, fault))
                next_sample += args.sample_every
            time.sleep(0.2)
    return samples


def inject(soak: Soak, fault: str) -> str:
    print(f"soak: injecting {fault}", flush=True)
    if fault.startswith("kill"):
        soak.stop_worker(signal.SIGKILL)
        soak.start_worker()
    elif fault.startswith("a graceful"):
        soak.stop_worker(signal.SIGTERM)
        soak.start_worker()
    else:
        kinds = poison_messages("soak-poison")
        poison = [(b"soak-poison", value) for name, value in kinds.items() if name not in GZIP_ONLY]
        asyncio.run(produce(soak.kafka, soak.kafka.agent_topic, poison))
        soak.poison_sent += len(poison)
    return fault


def sample(soak: Soak, seconds: float, produced: int, fault: str) -> dict[str, float | str]:
    assert soak.worker is not None
    if (code := soak.worker.process.poll()) is not None:
        print(f"soak: the worker exited with {code}; restarting it", flush=True)
        fault = fault or f"worker exited {code}"
        soak.start_worker()
    return {
        "seconds": round(seconds, 1),
        "rss_mib": round(soak.rss_mib(), 1),
        "uncommitted": soak.uncommitted(),
        "produced_messages": produced,
        "fault": fault,
    }


def settle(soak: Soak, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while (behind := soak.uncommitted()) and time.monotonic() < deadline:
        time.sleep(2)
    assert not behind, f"still {behind:,} uncommitted messages after {timeout:.0f} s"


def report_memory(samples: list[dict[str, float | str]], out: Path) -> bool:
    with (out / "samples.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(samples[0]))
        writer.writeheader()
        writer.writerows(samples)
    rss = [float(s["rss_mib"]) for s in samples if float(s["rss_mib"]) > 0]
    third = max(1, len(rss) // 3)
    first, last = max(rss[:third]), max(rss[-third:])
    ok = last <= first * MEMORY_GROWTH_ALLOWED
    print(
        f"soak: RSS peak {max(rss):.0f} MiB; first third's peak {first:.0f} MiB, last third's {last:.0f} MiB "
        f"({'bounded' if ok else 'GROWING'}: allowed {MEMORY_GROWTH_ALLOWED:.2f}x); "
        f"max uncommitted {max(int(s['uncommitted']) for s in samples):,}; "
        f"faults: {sum(1 for s in samples if s['fault'])}"
    )
    return ok


def check_totals(soak: Soak, out: Path) -> bool:
    """The streamed warehouse against the same traffic replayed offline with no fault, per product
    and day; and nothing counted twice, and every poison message dead-lettered."""
    streamed = soak.pipeline
    oracle = Pipeline(out / "oracle", f"chdb://{out / 'oracle' / 'warehouse'}", extra_env=streamed.extra_env)
    oracle.root.mkdir(exist_ok=True)
    oracle.cli("replay", str(streamed.root / "produced.jsonl"), "--source", "agent", timeout=3600)
    want, got = oracle.query(TOTALS), streamed.query(TOTALS)
    twice = streamed.query("SELECT count() AS n FROM event_ids_counted_more_than_once")[0]["n"]
    letters = streamed.query("SELECT count() AS n FROM dead_letters FINAL")[0]["n"]
    events = sum(int(row["events"]) for row in got)
    print(
        f"soak: {events:,} events counted in {len(got)} product-days; offline replay "
        f"{'agrees' if want == got else 'DISAGREES'}; counted twice: {twice}; "
        f"dead letters {letters} of {soak.poison_sent} poison messages sent"
    )
    return want == got and int(twice) == 0 and int(letters) == soak.poison_sent


def plot(samples: list[dict[str, float | str]], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("soak: no plot (pip install -e '.[soak]' for matplotlib)")
        return
    minutes = [float(s["seconds"]) / 60 for s in samples]
    figure, (rss, lag) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    rss.plot(minutes, [float(s["rss_mib"]) for s in samples])
    rss.set_ylabel("worker RSS (MiB)")
    lag.plot(minutes, [int(s["uncommitted"]) for s in samples], color="tab:orange")
    lag.set_ylabel("uncommitted messages")
    lag.set_xlabel("minutes")
    for s, minute in zip(samples, minutes, strict=True):
        if s["fault"]:
            for axis in (rss, lag):
                axis.axvline(minute, color="grey", linestyle=":", linewidth=1)
    figure.suptitle("seatmeter soak: RSS and lag; dotted lines are faults")
    figure.savefig(out / "soak.png", dpi=100)
    print(f"soak: plot in {out / 'soak.png'}")


if __name__ == "__main__":
    sys.exit(main())
