"""Profile one worker draining a pre-filled topic and print where its time goes, by stage.

``python -m tests.bench.profile [--devices 100] [--envelope 30] [--seconds 20]`` starts a worker
on a simulated day, samples it from outside with py-spy (``pip install py-spy``; the worker runs
unchanged) and sums the samples by thread and by stage of the batch plan. ``--raw FILE`` only
summarizes a py-spy raw file recorded before.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.settings import KafkaSettings
from sinks.kafka.client import ensure_topics, pipeline_topics, produce
from streams.tools.simulate import simulate_day
from tests.bench.three_way import MESSAGES_CONSUMED, _wait_for_every_message
from tests.integration.harness import BOOTSTRAP, REPO, Pipeline

STAGES = (
    ("decode", "decode_agent_usage"),
    ("rules at the door", "Door.judge"),
    ("product naming", "name_product"),
    ("placing (pseudonym, partition)", "_place"),
    ("session observations", "_observation (streams/pipeline/batch.py"),
    ("read_batch, the rest", "read_batch"),
    ("per-minute aggregation", "aggregate_usage"),
    ("de-duplication", "first_copies"),
    ("count_batch, the rest", "count_batch"),
    ("sessions", "sessionize_batch"),
    ("arrivals", "batch_arrivals"),
    ("plan_batch, the rest", "plan_batch"),
    ("seen keys (RocksDB)", "SeenEventStore.seen"),
    ("session states (Faust table)", "get_many"),
    ("lookups, the rest", "_known"),
    ("rollup insert", "ProductUsageWriter.write"),
    ("session insert", "UsageSessionWriter.write"),
    ("arrival insert", "ArrivalWriter"),
    ("session state write", "put_many"),
    ("counted ids (RocksDB)", "SeenEventStore.record"),
    ("applying the plan, the rest", "_apply"),
    ("runner, the rest", "UsageProcessor"),
    ("metrics endpoint", "prometheus_client"),
    ("Faust streams", "faust/streams"),
    ("aiokafka", "aiokafka"),
    ("Faust and mode, the rest", "faust/"),
    ("waiting (select)", "select (selectors.py"),
)


def summarize(raw: Path, floor: float = 0.005) -> str:
    """Shares of all samples per thread, then per (thread, stage); the first stage a stack holds wins."""
    total, threads, stages = 0, Counter[str](), Counter[tuple[str, str]]()
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        frames, samples = stack.split(";"), int(count)
        total += samples
        thread = _thread(frames[0])
        threads[thread] += samples
        stage = next((name for name, pattern in STAGES if any(pattern in f for f in frames)), "other")
        stages[(thread, stage)] += samples
    if not total:
        return "no samples"
    lines = [f"{total:,} samples", "", "| thread | share |", "| --- | --- |"]
    lines += [f"| {name} | {n / total:.1%} |" for name, n in threads.most_common()]
    lines += ["", "| thread | stage | share |", "| --- | --- | --- |"]
    lines += [f"| {t} | {s} | {n / total:.1%} |" for (t, s), n in stages.most_common() if n / total >= floor]
    return "\n".join(lines)


def _thread(frame: str) -> str:
    if "MainThread" in frame:
        return "event loop"
    if "warehouse" in frame:
        return "warehouse"
    return "other"


def profile(devices: int, envelope: int, seconds: float, out: Path) -> float:
    """Run the worker on a fresh topic under py-spy; return the events/s after its first batch."""
    spy = shutil.which("py-spy") or str(REPO / ".venv" / "bin" / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("error: py-spy is not installed; run .venv/bin/pip install py-spy")
    folder = Path(tempfile.mkdtemp(prefix="seatmeter-profile-"))
    pipeline = Pipeline(root=folder, warehouse_url=f"chdb://{folder / 'warehouse'}")
    traffic = simulate_day(3, devices, (datetime.now(UTC) - timedelta(days=1)).date(), envelope_size=envelope)
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, agent_topic=pipeline.topic)
    asyncio.run(ensure_topics(kafka, pipeline_topics(kafka)))
    asyncio.run(produce(kafka, pipeline.topic, traffic.messages))
    worker = pipeline.start_worker()
    try:
        worker.wait_metric(MESSAGES_CONSUMED, 1, timeout=180)
        started = time.perf_counter()
        command = [spy, "record", "-p", str(worker.process.pid), "-d", f"{seconds:g}", "-r", "50", "-f", "raw",
                   "-o", str(out), "--threads", "--nonblocking"]  # fmt: skip
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_every_message(worker, len(traffic.messages))
        rate = traffic.events / (time.perf_counter() - started)
        sampler.wait(timeout=seconds + 30)
    finally:
        worker.stop()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--envelope", type=int, default=30, help="events per message")
    parser.add_argument("--seconds", type=float, default=20, help="how long to sample")
    parser.add_argument("--raw", type=Path, help="summarize this py-spy raw file only")
    args = parser.parse_args()
    if args.raw is not None:
        print(summarize(args.raw))
        return
    out = Path(tempfile.mkdtemp(prefix="seatmeter-spy-")) / "worker.raw"
    rate = profile(args.devices, args.envelope, args.seconds, out)
    print(f"{rate:,.0f} events/s after the first batch (sampling costs the worker some); raw samples in {out}\n")
    print(summarize(out))


if __name__ == "__main__":
    main()
