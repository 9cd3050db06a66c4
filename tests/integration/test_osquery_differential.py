"""osquery differential and snapshot result logs of one process history, replayed offline and streamed
through the broker and a worker into chDB warehouses, give the same ``usage_sessions`` and ``usage_daily``."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.settings import KafkaSettings
from sinks.kafka.client import ensure_topics, pipeline_topics, produce
from tests.integration.harness import BOOTSTRAP, KAFKA, Pipeline
from tests.support.osquery_history import INTERVAL, History, Process, differential_log, snapshot_log

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

CAD, LAB, PLOT = "/opt/acme/cad/acmecad", "/opt/acme/lab/labtool", "/opt/tools/plotter"
# A working day in 96 polls: a CAD run all day (asleep over lunch, osquery's state lost at poll 70), short
# lab tool runs, a plotter that a restart of osquery missed, and a run still open at the end.
HISTORY = History(
    polls=96,
    processes=(
        Process(101, "chen", CAD, 4, 60),
        Process(102, "chen", CAD, 62, 120),
        Process(103, "chen", LAB, 10, 14),
        Process(104, "chen", LAB, 20, 21),
        Process(105, "dana", PLOT, 30, 68),
        Process(106, "dana", LAB, 8, 90),
        Process(107, "dana", CAD, 40, 41),
    ),
    asleep=frozenset(range(48, 54)),
    resets=frozenset({70}),
    heartbeat_phase=420,
)
SESSIONS = """
SELECT user_key, product, toString(started_at) AS started, toString(ended_at) AS ended, running_seconds
FROM usage_sessions ORDER BY user_key, product, started_at"""
# Users per product and minute, minutes covered as pool_usage_1m_compute covers them with sessions.
CONCURRENCY = """
SELECT product, toString(minute) AS minute, uniqExact(user_key) AS users
FROM usage_sessions
ARRAY JOIN arrayMap(i -> toStartOfMinute(started_at) + toIntervalMinute(i),
    range(toUInt32(dateDiff('minute', toStartOfMinute(started_at),
        toStartOfMinute(greatest(started_at, ended_at - toIntervalMillisecond(1)))) + 1))) AS minute
GROUP BY product, minute"""
TEN_YEARS = {"SEATMETER_INGEST__ALLOWED_LATENESS_SECONDS": str(10 * 365 * 86_400)}  # the history is a fixed day
DAILY = "SELECT toString(day) AS day, user_key, product, sessions, running_seconds FROM usage_daily"


def write_log(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def replayed(root: Path, log: Path) -> Pipeline:
    root.mkdir(parents=True)
    pipeline = Pipeline(root=root, warehouse_url=f"chdb://{root / 'warehouse'}", extra_env=dict(TEN_YEARS))
    pipeline.cli("replay", str(log), "--source", "osquery")
    return pipeline


def sessions(pipeline: Pipeline) -> list[tuple[str, str, datetime, datetime, Decimal]]:
    return [
        (r["user_key"], r["product"], datetime.fromisoformat(r["started"]), datetime.fromisoformat(r["ended"]),
         Decimal(str(r["running_seconds"])))
        for r in pipeline.query(SESSIONS)
    ]  # fmt: skip


def daily(pipeline: Pipeline) -> dict[tuple[str, str, str], tuple[int, Decimal]]:
    rows = pipeline.query(DAILY)
    return {
        (r["day"], r["user_key"], r["product"]): (int(r["sessions"]), Decimal(str(r["running_seconds"]))) for r in rows
    }


def concurrency(pipeline: Pipeline) -> dict[tuple[str, datetime], int]:
    rows = pipeline.query(CONCURRENCY)
    return {(r["product"], datetime.fromisoformat(r["minute"])): int(r["users"]) for r in rows}


def assert_same_concurrency_but_at_edges(truth: Pipeline, other: Pipeline) -> None:
    """Per product and minute the same number of users, except within one interval of a run's edge."""
    edges = [(s[1], edge) for s in sessions(truth) for edge in (s[2], s[3])]
    want, got = concurrency(truth), concurrency(other)
    differing = {key for key in want.keys() | got.keys() if want.get(key, 0) != got.get(key, 0)}
    assert len(differing) < len(want) // 10
    for product, minute in differing:
        assert any(p == product and abs((minute - edge).total_seconds()) <= INTERVAL for p, edge in edges)


def assert_within_one_interval(expected: list[tuple[Any, ...]], actual: list[tuple[Any, ...]]) -> None:
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual, strict=True):
        assert got[:2] == want[:2]
        assert abs((got[2] - want[2]).total_seconds()) <= INTERVAL
        assert abs((got[3] - want[3]).total_seconds()) <= INTERVAL
        assert abs(got[4] - want[4]) <= 2 * INTERVAL


def test_differential_and_snapshot_logs_replay_to_the_same_sessions_and_daily_use(tmp_path):
    snapshot = replayed(tmp_path / "snapshot", write_log(tmp_path / "snapshot.jsonl", snapshot_log(HISTORY)))
    events = replayed(tmp_path / "events", write_log(tmp_path / "events.jsonl", differential_log(HISTORY)))
    batches = replayed(tmp_path / "batch", write_log(tmp_path / "batch.jsonl", differential_log(HISTORY, True)))
    truth = sessions(snapshot)
    assert len(truth) == 9  # lunch splits chen's CAD runs, dana's plotter and lab tool; chen's lab tool twice
    assert_within_one_interval(truth, sessions(events))
    assert sessions(batches) == sessions(events)
    assert_same_concurrency_but_at_edges(snapshot, events)
    for differential in (events, batches):
        days = daily(differential)
        assert days.keys() == daily(snapshot).keys()
        for key, (count, running) in daily(snapshot).items():
            assert days[key][0] == count
            assert abs(days[key][1] - running) <= 2 * INTERVAL * count


def streamed_pipeline(root: Path, lines: list[dict[str, Any]], **env: str) -> Pipeline:
    root.mkdir()
    streamed = Pipeline(root=root, warehouse_url=f"chdb://{root / 'warehouse'}", extra_env=dict(TEN_YEARS))
    kafka = KafkaSettings(
        bootstrap_servers=BOOTSTRAP, agent_topic=streamed.topic, osquery_topic=f"{streamed.name}.osquery"
    )
    streamed.extra_env.update(
        {"SEATMETER_KAFKA__OSQUERY_TOPIC": kafka.osquery_topic, "SEATMETER_WORKER__BATCH_MAX_MESSAGES": "16"}
    )
    streamed.extra_env.update(env)
    asyncio.run(ensure_topics(KAFKA, pipeline_topics(kafka)))
    asyncio.run(produce(KAFKA, kafka.osquery_topic, [(HISTORY.host.encode(), orjson.dumps(line)) for line in lines]))
    return streamed


def test_a_streamed_differential_log_gives_the_sessions_of_its_offline_replay(kafka_broker, tmp_path):
    lines = differential_log(HISTORY, removed_first=True)
    offline = replayed(tmp_path / "offline", write_log(tmp_path / "differential.jsonl", lines))
    streamed = streamed_pipeline(tmp_path / "streamed", lines)
    streamed.run_until_caught_up()
    assert sessions(streamed) == sessions(offline)
    assert daily(streamed) == daily(offline)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_worker_killed_mid_stream_gives_the_same_sessions(kafka_broker, tmp_path):
    """SIGKILLs replay batches whose run state, session state or rollups were written or not.
    One to four minutes (a worker taking over from a killed one may stall until its watchdog
    restarts it), so in ``make test-slow``; ``make test`` keeps test_pipeline's single SIGKILL."""
    lines = differential_log(HISTORY, batch_format=True)
    offline = replayed(tmp_path / "offline", write_log(tmp_path / "differential.jsonl", lines))
    streamed = streamed_pipeline(tmp_path / "crashy", lines, SEATMETER_WORKER__COMMIT_INTERVAL_SECONDS="30",
                                 SEATMETER_WORKER__BATCH_MAX_MESSAGES="4",
                                 SEATMETER_WORKER__SESSION_TIMEOUT_SECONDS="6",
                                 SEATMETER_WORKER__STALL_TIMEOUT_SECONDS="75")  # fmt: skip
    for at_least in (20, 60):
        worker = streamed.start_worker_reaching("seatmeter_messages_consumed_total", at_least)
        worker.kill()
    streamed.run_until_caught_up()
    assert sessions(streamed) == sessions(offline)
    assert daily(streamed) == daily(offline)
