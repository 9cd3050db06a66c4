"""A worker that seems stuck can be asked for its stacks without stopping it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.harness import Pipeline, agent_sample

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


def test_sigquit_prints_every_threads_stack_and_the_worker_goes_on(embedded_pipeline: Pipeline):
    pipeline = embedded_pipeline
    pipeline.kcat_produce([agent_sample("ws-1", "CORP\\ana", "EXCEL.EXE", datetime.now(UTC), "diag-1")])
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_messages_consumed_total", 1)
        stacks = worker.stacks()
        assert "Thread 0x" in stacks and "most recent call first" in stacks, stacks[-3000:]
        assert "warehouse" in stacks or "ThreadPoolExecutor" in stacks or "concurrent" in stacks
        worker.assert_alive()
        pipeline.wait_caught_up()
    finally:
        assert worker.stop() == 0
