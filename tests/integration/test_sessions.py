"""Sessions on the real broker and engine: order, repeats, crashes and offline replay must not
change ``usage_sessions`` or ``usage_daily``; both must equal a sweep computed in the test."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from tests.integration.harness import EX_TEMPFAIL, Pipeline
from tests.integration.session_trace import Trace, build_trace

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

SESSIONS = """
SELECT device_id, user_key, product, toString(started_at) AS started, toString(ended_at) AS ended,
       running_seconds, active_seconds, idle_seconds, event_count
FROM usage_sessions"""
DAILY = """
SELECT toString(day) AS day, user_key, product, sessions, sessions_used, active_seconds, running_seconds, devices
FROM usage_daily"""


def sessions(pipeline: Pipeline) -> list[tuple[object, ...]]:
    return sorted(
        (r["device_id"], r["user_key"], r["product"], r["started"], r["ended"], Decimal(str(r["running_seconds"])),
         Decimal(str(r["active_seconds"])), Decimal(str(r["idle_seconds"])), int(r["event_count"]))
        for r in pipeline.query(SESSIONS)
    )  # fmt: skip


def daily(pipeline: Pipeline) -> list[tuple[object, ...]]:
    return sorted(
        (r["day"], r["user_key"], r["product"], int(r["sessions"]), int(r["sessions_used"]),
         Decimal(str(r["active_seconds"])), Decimal(str(r["running_seconds"])), int(r["devices"]))
        for r in pipeline.query(DAILY)
    )  # fmt: skip


def assert_equal_to_truth(pipeline: Pipeline, trace: Trace) -> None:
    expected, actual = trace.sessions(), sessions(pipeline)
    missing = sorted(set(expected) - set(actual))[:5]
    extra = sorted(set(actual) - set(expected))[:5]
    assert actual == expected, f"{len(actual)} sessions, expected {len(expected)}; missing {missing}; extra {extra}"
    assert daily(pipeline) == trace.daily()


def new_pipeline(root: Path, **env: str) -> Pipeline:
    root.mkdir(parents=True, exist_ok=True)
    return Pipeline(root=root, warehouse_url=f"chdb://{root / 'warehouse'}", extra_env=dict(env))


def test_any_order_gives_the_sessions_of_the_time_sorted_trace(kafka_broker, tmp_path):
    trace = build_trace(seed=3)
    assert len(trace.sessions()) > 100
    shuffled = list(range(len(trace.events)))
    random.Random(9).shuffle(shuffled)
    in_order, any_order = new_pipeline(tmp_path / "sorted"), new_pipeline(tmp_path / "shuffled")
    in_order.kcat_produce(trace.messages())
    any_order.kcat_produce(trace.messages(shuffled))
    in_order.run_until_caught_up()
    any_order.run_until_caught_up()
    assert_equal_to_truth(in_order, trace)
    assert sessions(any_order) == sessions(in_order)
    assert daily(any_order) == daily(in_order)


@pytest.mark.slow
def test_the_same_trace_twice_and_offline_replay_give_the_same_tables(kafka_broker, tmp_path):
    trace = build_trace(seed=5, devices=8)
    too_late = {
        **orjson.loads(trace.messages()[0][1]),
        "event_id": "beyond-the-lateness-bound",
        "event_time": (datetime.now(UTC) - timedelta(days=8)).isoformat(),
    }
    messages = [*trace.messages(), (b"ws-00", orjson.dumps(too_late))]
    streamed = new_pipeline(tmp_path / "streamed")
    streamed.kcat_produce(messages)
    streamed.run_until_caught_up()
    assert_equal_to_truth(streamed, trace)
    first = (sessions(streamed), daily(streamed))
    streamed.kcat_produce(messages)
    streamed.run_until_caught_up()
    assert (sessions(streamed), daily(streamed)) == first

    export = tmp_path / "export.jsonl"
    export.write_bytes(b"".join(value + b"\n" for _, value in messages))
    offline = new_pipeline(tmp_path / "offline")
    out = offline.cli("replay", str(export), "--source", "agent")
    assert "1 late events set aside" in out
    assert (sessions(offline), daily(offline)) == first
    offline.cli("replay", str(export), "--source", "agent")
    assert (sessions(offline), daily(offline)) == first


@pytest.mark.chaos
@pytest.mark.slow
def test_sigkill_at_random_points_gives_the_same_sessions(kafka_broker, tmp_path):
    """About four minutes, so in ``make chaos``; CI keeps the shorter SIGKILL test of test_pipeline."""
    trace = build_trace(seed=8, devices=10)
    pipeline = new_pipeline(
        tmp_path / "crashy",
        SEATMETER_WORKER__BATCH_MAX_MESSAGES="25",
        SEATMETER_WORKER__COMMIT_INTERVAL_SECONDS="30",
        SEATMETER_WORKER__SESSION_TIMEOUT_SECONDS="6",
        SEATMETER_WORKER__STALL_TIMEOUT_SECONDS="75",
    )
    buffered = [i for i, e in enumerate(trace.events) if e.device == "laptop-offline"]
    others = sorted(set(range(len(trace.events))) - set(buffered), key=lambda i: trace.events[i].end)
    pipeline.kcat_produce(trace.messages(others + buffered))
    rng = random.Random(13)
    for _ in range(3):
        worker = pipeline.start_worker_reaching("seatmeter_messages_consumed_total", rng.randint(100, 900))
        time.sleep(rng.random())
        worker.kill()
    pipeline.run_until_caught_up()
    assert_equal_to_truth(pipeline, trace)


def test_offsets_the_consumer_group_skipped_are_read_back(kafka_broker, tmp_path):
    """The group's committed offsets jump past messages no worker processed, as faust-streaming
    can leave them after a rebalance. The worker finds the gap against the warehouse's marks
    and reads it back, so nothing is lost; without the read-back this test loses sessions."""
    trace = build_trace(seed=5, devices=8)
    messages = trace.messages()
    pipeline = new_pipeline(tmp_path / "gaps", SEATMETER_WORKER__BATCH_MAX_MESSAGES="30")
    pipeline.kcat_produce(messages[: len(messages) // 2])
    pipeline.run_until_caught_up()
    pipeline.kcat_produce(messages[len(messages) // 2 :])
    moved = pipeline.skip_ahead(0.5)
    skipped = sum(new - old for old, new in moved.values())
    assert skipped > 50
    worker = pipeline.start_worker()
    try:
        worker.wait_metric("seatmeter_messages_consumed_total", 1)
        pipeline.wait_caught_up()
        read_back = worker.metric("seatmeter_offset_gap_messages_total")
        replayed = worker.metric("seatmeter_messages_already_written_total")
    finally:
        assert worker.stop() == 0
    assert_equal_to_truth(pipeline, trace)
    assert (read_back, replayed) == (skipped, 0)


def test_two_workers_and_a_rebalance_give_the_same_sessions(server_pipeline):
    """Partitions spread over two workers sharing a warehouse server; one is killed, the other
    takes its partitions over and restores their session state from the changelog. faust-streaming
    may skip offsets on the way (this test found it); the worker reads such gaps back. Like an
    orchestrator, the test restarts a worker that its stall watchdog stopped (exit 75)."""
    trace = build_trace(seed=21, devices=10)
    pipeline = server_pipeline
    pipeline.extra_env.update(
        {
            "SEATMETER_WORKER__BATCH_MAX_MESSAGES": "40",
            "SEATMETER_WORKER__SESSION_TIMEOUT_SECONDS": "6",
            "SEATMETER_WORKER__STALL_TIMEOUT_SECONDS": "20",
        }
    )
    pipeline.kcat_produce(trace.messages())
    first = pipeline.start_worker()
    second = pipeline.start_worker("second")
    restarts = 0
    try:
        second.wait_metric("seatmeter_messages_consumed_total", 1)
        first.wait_metric("seatmeter_messages_consumed_total", 1)
        first.kill()
        while True:
            try:
                pipeline.wait_caught_up(timeout=60)
                break
            except AssertionError as exc:
                if second.process.poll() != EX_TEMPFAIL or restarts == 3:
                    raise AssertionError(f"{exc}\n{second.stacks()}") from exc
                restarts += 1
                second = pipeline.start_worker("second")
    finally:
        assert second.stop() == 0
    assert_equal_to_truth(pipeline, trace)
