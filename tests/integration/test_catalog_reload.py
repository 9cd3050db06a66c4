"""A correction recorded with `seatmeter correct` renames new events in a running worker."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from schemas.settings import KafkaSettings
from sinks.kafka import ensure_topics, pipeline_topics, produce
from tests.integration.harness import BOOTSTRAP

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


def tool_event(event_id: str) -> tuple[bytes, bytes]:
    event = {
        "event_id": event_id,
        "event_time": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "device_id": "WS-CAD",
        "user": "CORP\\drafter",
        "executable": {"path": "C:\\Tools\\acme-cad.exe", "file_name": "acme-cad.exe"},
        "kind": "sample",
        "active_seconds": 30,
        "idle_seconds": 30,
        "interval_seconds": 60,
    }
    return b"WS-CAD", json.dumps(event).encode()


def test_a_correction_takes_effect_in_a_running_worker(embedded_pipeline):
    pipeline = embedded_pipeline
    pipeline.extra_env["SEATMETER_CATALOG__OVERRIDES_FILE"] = str(pipeline.root / "overrides.yaml")
    pipeline.extra_env["SEATMETER_CATALOG__RELOAD_CHECK_SECONDS"] = "0.5"
    asyncio.run(ensure_topics(BOOTSTRAP, pipeline_topics(KafkaSettings(agent_topic=pipeline.topic))))
    asyncio.run(produce(BOOTSTRAP, pipeline.topic, [tool_event("before")]))
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_events_consumed_total", 1)
        out = pipeline.cli(
            "correct", "--path-glob", "*/acme-cad.exe", "--product", "autodesk-autocad", "--reason", "site install"
        )
        assert "+local." in out
        time.sleep(1.5)
        asyncio.run(produce(BOOTSTRAP, pipeline.topic, [tool_event("after")]))
        worker.wait_metric("seatmeter_events_consumed_total", 2)
        pipeline.wait_caught_up()
    finally:
        assert worker.stop() == 0
    rows = pipeline.query(
        "SELECT product, category, catalog_version FROM product_usage_1m_parts WHERE event_count > 0 ORDER BY product"
    )
    assert [(r["product"], r["category"]) for r in rows] == [("AutoCAD", "application"), ("acme-cad.exe", "unknown")]
    assert "+local." in rows[0]["catalog_version"] and "+local." not in rows[1]["catalog_version"]
