"""Reference data through the real broker into the warehouse: imports, inventory, tombstones."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.settings import KafkaSettings
from sinks.kafka.client import ensure_topics, pipeline_topics, produce
from tests.integration.harness import BOOTSTRAP, KAFKA, Pipeline
from tests.integration.test_ingest_contract import topic_text

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference"


def reference_topics(pipeline: Pipeline) -> KafkaSettings:
    names = {kind: f"{pipeline.name}.{kind}" for kind in ("inventory", "entitlements", "directory")}
    for kind, topic in names.items():
        pipeline.extra_env[f"SEATMETER_KAFKA__{kind.upper()}_TOPIC"] = topic
    kafka = KafkaSettings(
        bootstrap_servers=BOOTSTRAP,
        agent_topic=pipeline.topic,
        inventory_topic=names["inventory"],
        entitlements_topic=names["entitlements"],
        directory_topic=names["directory"],
    )
    asyncio.run(ensure_topics(KAFKA, pipeline_topics(kafka)))
    return kafka


def test_imports_and_inventory_land_in_the_warehouse(embedded_pipeline):
    pipeline = embedded_pipeline
    kafka = reference_topics(pipeline)
    assert "published 5 license pools" in pipeline.cli("import", "entitlements", str(REFERENCE / "entitlements.csv"))
    assert "published 10 people" in pipeline.cli("import", "directory", str(REFERENCE / "directory.yaml"))
    snapshots = [p.read_bytes() for p in sorted((REFERENCE / "inventory").glob("*.json"))]
    software = sum(len(json.loads(s)["software"]) for s in snapshots)
    keyed = [(json.loads(s)["device_id"].encode(), s) for s in snapshots]
    asyncio.run(produce(KAFKA, kafka.inventory_topic, [*keyed, (b"WS-BROKEN", b"{not json")]))
    pipeline.run_until_caught_up()

    pools = pipeline.query("SELECT pool_id, seats, license_model FROM license_pools FINAL ORDER BY pool_id")
    assert len(pools) == 5 and {p["license_model"] for p in pools} >= {"subscription_seat", "per_core"}
    people = pipeline.query("SELECT user_key, department, status FROM directory_people FINAL")
    assert len(people) == 10 and {p["status"] for p in people} >= {"active", "leaving", "left"}
    assert all(len(p["user_key"]) == 32 and "@" not in p["user_key"] for p in people)
    rows = pipeline.query("SELECT count() AS n FROM inventory_latest")
    assert int(rows[0]["n"]) == software
    assert int(pipeline.query("SELECT count() AS n FROM dead_letters FINAL")[0]["n"]) == 1
    directory_on_kafka = topic_text(kafka.directory_topic).casefold()
    assert "marta.keller" not in directory_on_kafka and "@example.com" not in directory_on_kafka


def test_a_tombstone_removes_a_pool_and_a_replay_changes_nothing(embedded_pipeline):
    pipeline = embedded_pipeline
    kafka = reference_topics(pipeline)
    pipeline.cli("import", "entitlements", str(REFERENCE / "entitlements.yaml"))
    pipeline.cli("import", "entitlements", str(REFERENCE / "entitlements.yaml"))
    asyncio.run(produce(KAFKA, kafka.entitlements_topic, [(b"m365-e3", b"")]))
    pipeline.run_until_caught_up()
    pools = pipeline.query("SELECT pool_id FROM license_pools FINAL ORDER BY pool_id")
    assert len(pools) == 4
    assert "m365-e3" not in {p["pool_id"] for p in pools}


def test_scope_by_department_drops_a_departments_use_at_ingest(embedded_pipeline):
    pipeline = embedded_pipeline
    reference_topics(pipeline)
    pipeline.extra_env["SEATMETER_SCOPE__EXCLUDE_DEPARTMENTS"] = '["Finance"]'
    pipeline.cli("import", "directory", str(REFERENCE / "directory.csv"))
    pipeline.run_until_caught_up()
    now = datetime.now(UTC)
    people = ["marta.keller@example.com", "dara.obrien@example.com", "CORP\\asilva", "nobody@example.com"]
    events = [
        {"event_id": f"e{i}", "event_time": (now - timedelta(minutes=5)).isoformat(), "device_id": f"WS-{i}",
         "user": user, "executable": {"path": "C:\\x\\tool.exe", "file_name": "tool.exe"}, "kind": "sample",
         "active_seconds": 10, "idle_seconds": 0, "interval_seconds": 60}
        for i, user in enumerate(people)
    ]  # fmt: skip
    asyncio.run(produce(KAFKA, pipeline.topic, [(e["device_id"].encode(), json.dumps(e).encode()) for e in events]))
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_events_out_of_scope_total", 2)
        pipeline.wait_caught_up()
        assert worker.metric("seatmeter_events_out_of_scope_total") == 2
    finally:
        assert worker.stop() == 0
    [row] = pipeline.query("SELECT uniqExactArray(users) AS users FROM product_usage_1m_parts")
    assert int(row["users"]) == 2
