"""Streaming on the real broker and engine: one SSO event id is one sign-in whichever channel
and partition it came by, copies that break the keying rule are reported, events replayed after
a stream count once and continue its sessions, and a worker refuses a pseudonym key the
warehouse was not written with."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka.partitioner import murmur2

from schemas.settings import KafkaSettings
from sinks.kafka.client import ensure_topics, pipeline_topics, produce
from tests.integration.harness import BOOTSTRAP, KAFKA, SEATMETER, Pipeline, agent_sample
from tests.integration.session_trace import build_trace
from tests.integration.test_sessions import assert_equal_to_truth

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEN_YEARS = str(10 * 365 * 86_400)
SIGNINS = "SELECT sum(signins) AS signins, sum(event_count) AS events FROM usage_sessions"
PER_MINUTE = "SELECT sum(event_count) AS events FROM product_usage_per_minute"


def with_okta_topic(pipeline: Pipeline) -> str:
    topic = f"{pipeline.name}.okta"
    pipeline.extra_env.update(
        {"SEATMETER_KAFKA__OKTA_TOPIC": topic, "SEATMETER_INGEST__ALLOWED_LATENESS_SECONDS": TEN_YEARS}
    )
    kafka = KafkaSettings(bootstrap_servers=BOOTSTRAP, agent_topic=pipeline.topic, okta_topic=topic)
    asyncio.run(ensure_topics(KAFKA, pipeline_topics(kafka)))
    return topic


def partition_of(key: bytes) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % KafkaSettings().topic_partitions


def test_an_okta_event_from_the_api_and_a_hook_on_two_partitions_is_one_signin(embedded_pipeline):
    pipeline = embedded_pipeline
    topic = with_okta_topic(pipeline)
    hook = (FIXTURES / "okta" / "event_hook_delivery.json").read_bytes()
    page = orjson.dumps([orjson.loads(hook)["data"]["events"][0]])
    assert partition_of(b"api") != partition_of(b"hook")
    asyncio.run(produce(KAFKA, topic, [(b"api", page)]))
    asyncio.run(produce(KAFKA, topic, [(b"hook", hook), (b"api", page)]))
    pipeline.run_until_caught_up()
    assert pipeline.query(SIGNINS) == [{"signins": 1, "events": 1}]
    assert pipeline.query(PER_MINUTE) == [{"events": 1}]
    export = pipeline.root / "export.json"
    export.write_bytes(page)
    pipeline.cli("replay", str(export), "--source", "okta")
    assert pipeline.query(SIGNINS) == [{"signins": 1, "events": 1}]
    assert pipeline.query(PER_MINUTE) == [{"events": 1}]


def test_a_worker_refuses_a_key_the_warehouse_was_not_written_with(embedded_pipeline):
    pipeline = embedded_pipeline
    export = pipeline.root / "export.json"
    export.write_bytes((FIXTURES / "okta" / "event_hook_delivery.json").read_bytes())
    pipeline.cli("replay", str(export), "--source", "okta")
    pipeline.extra_env["SEATMETER_PRIVACY__PSEUDONYM_KEY"] = "another-key"
    done = subprocess.run(
        [SEATMETER, "worker"], env=pipeline.env, cwd=pipeline.root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "another key named 'k1'" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr


def test_copies_that_break_the_keying_rule_are_reported(embedded_pipeline):
    pipeline = embedded_pipeline
    pipeline.extra_env["SEATMETER_WORKER__DUPLICATE_CHECK_SECONDS"] = "1"
    _, value = agent_sample("ws-1", "CORP\\ana", "EXCEL.EXE", datetime.now(UTC).replace(second=0), "copied")
    assert partition_of(b"api") != partition_of(b"hook")
    worker = pipeline.start_worker()
    try:
        pipeline.kcat_produce([(b"api", value)])
        worker.wait_metric("seatmeter_events_consumed_total", 1)
        pipeline.kcat_produce([(b"hook", value)])
        assert worker.wait_metric("seatmeter_event_ids_counted_more_than_once", 1) == 1
    finally:
        worker.stop()
    [row] = pipeline.query("SELECT event_id, times_counted, counted_in FROM event_ids_counted_more_than_once")
    assert (row["event_id"], row["times_counted"]) == ("copied", 2)
    assert len(row["counted_in"]) == 2
    assert "counted under more than one partition" in (pipeline.root / "worker.log").read_text()


def test_events_replayed_after_a_stream_continue_its_sessions_and_count_once(embedded_pipeline):
    """Half a trace streamed, then the rest replayed from an export that overlaps the stream by
    a few events: the replay adds only what is new, extending the streamed sessions, and the
    tables equal the trace's truth."""
    pipeline = embedded_pipeline
    trace = build_trace(seed=41, devices=3, hours=8)
    messages = trace.messages()
    half = len(messages) // 2
    pipeline.kcat_produce(messages[:half])
    pipeline.run_until_caught_up()
    export = pipeline.root / "export.jsonl"
    export.write_bytes(b"".join(value + b"\n" for _, value in messages[half - 20 :]))
    pipeline.cli("replay", str(export), "--source", "agent")
    assert_equal_to_truth(pipeline, trace)
    assert pipeline.query(PER_MINUTE) == [{"events": len(messages)}]
