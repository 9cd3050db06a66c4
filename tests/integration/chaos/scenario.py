"""What every scenario does the same way: topics, gzip producing, the offline oracle, the verdict."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from schemas.settings import KafkaSettings
from sinks.kafka.client import ensure_topics, pipeline_topics
from sinks.kafka.security import client_options
from tests.integration.chaos.ledger import Findings, Ledger, verify
from tests.integration.harness import Pipeline
from tests.integration.workload import PRODUCTS, Workload, _event, build_workload, product_name

FAST_RESTARTS = {
    "SEATMETER_WORKER__BATCH_MAX_MESSAGES": "40",
    "SEATMETER_WORKER__COMMIT_INTERVAL_SECONDS": "5",
    "SEATMETER_WORKER__SESSION_TIMEOUT_SECONDS": "6",
}
"""Small batches and a short group session: kills land between insert and commit more often, and a
killed member leaves the group in seconds."""


def ledger_of(seed: int, devices: int, minutes: int) -> Ledger:
    return Ledger(build_workload(seed=seed, devices=devices, minutes=minutes))


def topics_for(pipeline: Pipeline) -> KafkaSettings:
    kafka = KafkaSettings(
        bootstrap_servers=pipeline.env["SEATMETER_KAFKA__BOOTSTRAP_SERVERS"], agent_topic=pipeline.topic
    )
    asyncio.run(ensure_topics(kafka, pipeline_topics(kafka)))
    return kafka


def send(pipeline: Pipeline, messages: list[tuple[bytes, bytes]]) -> None:
    """As a fleet's producer might: gzip in transit, so the broker takes envelopes of megabytes."""
    asyncio.run(_send(topics_for(pipeline), messages))


async def _send(kafka: KafkaSettings, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        **client_options(kafka), acks="all", compression_type="gzip", max_request_size=64 << 20, linger_ms=5
    )
    await producer.start()
    try:
        sent = [await producer.send(kafka.agent_topic, value=value, key=key) for key, value in messages]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


Messages = list[tuple[bytes, bytes]]


def add_offline_buffer(workload: Workload, device: str, days_ago: int, minutes: int, seed: int) -> Messages:
    """A device that was offline for ``days_ago`` days uploads the buffer of a working stretch from
    then, in envelopes of 30; its events join the workload's truth."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=days_ago)
    user, events = "CORP\\traveller", []
    for index in range(minutes):
        minute = start + timedelta(minutes=index)
        exe = PRODUCTS[index // 30 % len(PRODUCTS)]
        active = Decimal(rng.randrange(1, 601)) / 10
        events.append(_event(rng, device, user, exe, minute + timedelta(minutes=1), UTC, active))
        key = (product_name(exe), minute)
        workload.truth.events[key] += 1
        workload.truth.active[key] += active
        workload.truth.users[key].add(user.casefold())
        workload.truth.devices[key].add(device)
    return [(device.encode(), _envelope(events[i : i + 30])) for i in range(0, len(events), 30)]


def _envelope(events: list[dict[str, object]]) -> bytes:
    return orjson.dumps({"events": events})


def oracle(root: Path, ledger: Ledger, extra_env: dict[str, str]) -> Pipeline:
    """The ledger's good traffic replayed offline, no fault: the sessions the scenario must give."""
    root.mkdir(parents=True)
    pipeline = Pipeline(root=root, warehouse_url=f"chdb://{root / 'warehouse'}", extra_env=dict(extra_env))
    pipeline.cli("replay", str(ledger.write_replay_file(root / "good.jsonl")), "--source", "agent")
    return pipeline


def conclude(scenario: str, ledger: Ledger, streamed: Pipeline, record: list[Findings], truth: Pipeline | None) -> None:
    findings = verify(scenario, ledger, streamed, truth)
    record.append(findings)
    assert not findings.mismatches, "\n".join(findings.mismatches)
