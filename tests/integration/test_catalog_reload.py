"""A correction recorded with `seatmeter catalog correct`, locally or on the corrections topic, renames new
events in running workers."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from schemas.settings import KafkaSettings
from sinks.kafka.client import catalog_topic, ensure_topics, pipeline_topics, produce
from tests.integration.harness import KAFKA

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


def tool_event(event_id: str, device: str = "WS-CAD") -> tuple[bytes, bytes]:
    event = {
        "event_id": event_id,
        "event_time": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "device_id": device,
        "user": "CORP\\drafter",
        "executable": {"path": "C:\\Tools\\acme-cad.exe", "file_name": "acme-cad.exe"},
        "kind": "sample",
        "active_seconds": 30,
        "idle_seconds": 30,
        "interval_seconds": 60,
    }
    return device.encode(), json.dumps(event).encode()


def test_a_correction_takes_effect_in_a_running_worker(embedded_pipeline):
    pipeline = embedded_pipeline
    pipeline.extra_env["SEATMETER_CATALOG__OVERRIDES_FILE"] = str(pipeline.root / "overrides.yaml")
    pipeline.extra_env["SEATMETER_CATALOG__RELOAD_CHECK_SECONDS"] = "0.5"
    asyncio.run(ensure_topics(KAFKA, pipeline_topics(KafkaSettings(agent_topic=pipeline.topic))))
    asyncio.run(produce(KAFKA, pipeline.topic, [tool_event("before")]))
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_events_consumed_total", 1)
        out = pipeline.cli(
            "catalog", "correct", "--path-glob", "*/acme-cad.exe", "--product", "autodesk-autocad",
            "--reason", "site install",
        )  # fmt: skip
        assert "+local." in out
        time.sleep(1.5)
        asyncio.run(produce(KAFKA, pipeline.topic, [tool_event("after")]))
        worker.wait_metric("seatmeter_events_consumed_total", 2)
        pipeline.wait_caught_up()
    finally:
        assert worker.stop() == 0
    rows = pipeline.query(
        "SELECT product, category, catalog_version FROM product_usage_1m_parts WHERE event_count > 0 ORDER BY product"
    )
    assert [(r["product"], r["category"]) for r in rows] == [("AutoCAD", "application"), ("acme-cad.exe", "unknown")]
    assert "+local." in rows[0]["catalog_version"] and "+local." not in rows[1]["catalog_version"]


def named_events(pipeline) -> dict[str, tuple[str, str]]:
    """event id -> (product, catalog version) of the row that counted it."""
    rows = pipeline.query(
        "SELECT arrayJoin(event_ids) AS id, product, catalog_version FROM product_usage_1m_parts WHERE event_count > 0"
    )
    return {r["id"]: (r["product"], r["catalog_version"]) for r in rows}


def published_version(out: str) -> str:
    return out.rsplit("now use ", 1)[1].split()[0]


def test_a_published_correction_reaches_running_and_fresh_workers_without_a_restart(embedded_pipeline):
    pipeline = embedded_pipeline
    topic = f"{pipeline.name}.catalog-overrides"
    pipeline.extra_env["SEATMETER_CATALOG__TOPIC"] = topic
    asyncio.run(ensure_topics(KAFKA, [*pipeline_topics(KafkaSettings(agent_topic=pipeline.topic))]))
    asyncio.run(ensure_topics(KAFKA, [catalog_topic(topic, KafkaSettings())]))
    asyncio.run(produce(KAFKA, topic, [(b"path:x", b"not a correction")]))
    asyncio.run(produce(KAFKA, pipeline.topic, [tool_event("before", "WS-1")]))
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_events_consumed_total", 1)
        assert worker.metric("seatmeter_catalog_corrections_invalid_total") == 1
        out = pipeline.cli(
            "catalog", "correct", "--path-glob", "*/acme-cad.exe", "--product", "autodesk-autocad",
            "--reason", "site install", "--publish",
        )  # fmt: skip
        version = published_version(out)
        assert "+topic." in version and not (pipeline.root / ".seatmeter" / "catalog-overrides.yaml").exists()
        time.sleep(2.5)
        asyncio.run(produce(KAFKA, pipeline.topic, [tool_event("after", "WS-2")]))
        worker.wait_metric("seatmeter_events_consumed_total", 2)
        pipeline.wait_caught_up()
    finally:
        assert worker.stop() == 0
    fresh = pipeline.start_worker()
    try:
        asyncio.run(produce(KAFKA, pipeline.topic, [tool_event("fresh worker", "WS-3")]))
        fresh.wait_metric("seatmeter_events_consumed_total", 1)
        withdrawn = published_version(pipeline.cli("catalog", "withdraw", "--path-glob", "*\\ACME-CAD.exe"))
        time.sleep(2.5)
        asyncio.run(produce(KAFKA, pipeline.topic, [tool_event("withdrawn", "WS-4")]))
        fresh.wait_metric("seatmeter_events_consumed_total", 2)
        pipeline.wait_caught_up()
    finally:
        assert fresh.stop() == 0
    assert "+topic." not in withdrawn
    assert named_events(pipeline) == {
        "before": ("acme-cad.exe", withdrawn),
        "after": ("AutoCAD", version),
        "fresh worker": ("AutoCAD", version),
        "withdrawn": ("acme-cad.exe", withdrawn),
    }
