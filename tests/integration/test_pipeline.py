"""The walking skeleton on real parts: broker, worker process, ClickHouse engine.

A workload with a known truth is produced through aiokafka and through kcat; the per-minute
rollups read back from the warehouse must equal that truth exactly, also across SIGKILLs.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from sinks.kafka.client import ensure_topics, produce
from tests.integration.harness import Pipeline
from tests.integration.workload import Workload, build_workload, warehouse_rollups

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


def produce_half_and_half(pipeline: Pipeline, workload: Workload) -> None:
    """Every other message through aiokafka, the rest through kcat, a producer we did not write."""
    from schemas.settings import KafkaSettings
    from sinks.kafka.client import pipeline_topics

    kafka = KafkaSettings(
        bootstrap_servers=pipeline.env["SEATMETER_KAFKA__BOOTSTRAP_SERVERS"], agent_topic=pipeline.topic
    )
    asyncio.run(ensure_topics(kafka, pipeline_topics(kafka)))
    asyncio.run(produce(kafka, pipeline.topic, workload.messages[0::2]))
    pipeline.kcat_produce(workload.messages[1::2])


def assert_exact(pipeline: Pipeline, workload: Workload) -> None:
    expected = workload.truth.rows()
    actual = warehouse_rollups(pipeline)
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    wrong = {k: (actual[k], expected[k]) for k in expected.keys() & actual.keys() if actual[k] != expected[k]}
    assert not missing and not extra and not wrong, f"missing {len(missing)}, extra {len(extra)}, wrong {wrong}"
    dead = pipeline.query("SELECT count() AS n, uniqExact(reason) AS reasons FROM dead_letters FINAL")[0]
    assert int(dead["n"]) == workload.invalid


@pytest.mark.parametrize("warehouse", ["embedded", "server"])
def test_rollups_equal_the_ground_truth(request, warehouse):
    pipeline: Pipeline = request.getfixturevalue(f"{warehouse}_pipeline")
    workload = build_workload(seed=11, devices=30, minutes=40)
    produce_half_and_half(pipeline, workload)
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_messages_consumed_total", len(workload.messages))
        worker.wait_metric("seatmeter_warehouse_rows_written_total", 1)
        pipeline.wait_caught_up()
        assert worker.metric("seatmeter_events_late_total") == workload.late
    finally:
        assert worker.stop() == 0
    assert_exact(pipeline, workload)
    assert pipeline.kcat_count(pipeline.topic + ".late") == workload.late


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kills", [1, pytest.param(3, marks=pytest.mark.slow)])
def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(embedded_pipeline, kills):
    """Killed ``kills`` times at random points, restarted each time; ``make test`` kills once,
    ``make test-slow`` three times in a row (a replay on top of a replay)."""
    pipeline = embedded_pipeline
    pipeline.extra_env.update(
        {
            "SEATMETER_WORKER__BATCH_MAX_MESSAGES": "40",
            "SEATMETER_WORKER__COMMIT_INTERVAL_SECONDS": "30",
            "SEATMETER_WORKER__SESSION_TIMEOUT_SECONDS": "6",
            "SEATMETER_WORKER__STALL_TIMEOUT_SECONDS": "75",
        }
    )
    workload = build_workload(seed=23, devices=40, minutes=60)
    produce_half_and_half(pipeline, workload)
    rng = random.Random(5)
    replayed = 0.0
    for _ in range(kills):
        worker = pipeline.start_worker_reaching("seatmeter_messages_consumed_total", rng.randint(50, 400))
        replayed += worker.metric("seatmeter_messages_already_written_total")
        time.sleep(rng.random())
        worker.kill()
    worker = pipeline.start_worker_reaching("seatmeter_messages_consumed_total", 1)
    try:
        worker = pipeline.catch_up(worker)
        replayed += worker.metric("seatmeter_messages_already_written_total")
    finally:
        assert worker.stop() == 0
    assert replayed > 0, "no replay happened, so the crash path was not exercised"
    assert_exact(pipeline, workload)
