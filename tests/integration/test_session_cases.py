"""The issue's named session cases, end to end: agent events through the real broker and a
worker into chDB, read back from ``usage_sessions`` and ``usage_daily``.

Every case has its own device, so one produce and one worker run serve them all. Expected
sessions are written out by hand from the 30-minute gap rule; each event covers the
``interval_seconds`` before its ``event_time``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from tests.integration.harness import Pipeline

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]

DAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
EXCEL = "EXCEL.EXE"


def at(hours: float, day: int = 0) -> datetime:
    return DAY + timedelta(days=day, hours=hours)


def event(device: str, end: datetime, *, n: int, user: str = "CORP\\ana", kind: str = "sample",
          interval: float = 60, active: float | None = 30, **extra: Any) -> tuple[bytes, bytes]:  # fmt: skip
    body: dict[str, Any] = {
        "event_id": f"{device}-{n}",
        "schema_version": 2,
        "event_time": end.isoformat(),
        "device_id": device,
        "user": user,
        "executable": {"path": f"C:\\Program Files\\Microsoft Office\\root\\Office16\\{EXCEL}", "file_name": EXCEL},
        "kind": kind,
        "interval_seconds": interval,
        "session_type": "console",
        **extra,
    }
    if active is not None:
        body["active_seconds"] = active
        body["idle_seconds"] = max(0.0, interval - active)
    return device.encode(), orjson.dumps(body)


def cases() -> list[tuple[bytes, bytes]]:
    nine = at(9)
    messages = [
        # gap closing: 09:00 and 09:10, then a sample covering 09:41..09:42 (31 minutes on)
        event("gap-close", nine, n=1),
        event("gap-close", nine + timedelta(minutes=10), n=2),
        event("gap-close", nine + timedelta(minutes=42), n=3),
        # heartbeats (instants) exactly one gap apart, and one second more
        event("beat-on", nine, n=1, kind="sample", interval=0, active=None),
        event("beat-on", nine + timedelta(minutes=30), n=2, kind="sample", interval=0, active=None),
        event("beat-past", nine, n=1, kind="sample", interval=0, active=None),
        event("beat-past", nine + timedelta(minutes=30, seconds=1), n=2, kind="sample", interval=0, active=None),
        # two windows of Excel over the same five minutes: one session, active capped at the span
        event("two-windows", nine, n=1, interval=300, active=200),
        event("two-windows", nine, n=2, interval=300, active=200),
        # start, samples and stop of a process
        event("bracketed", nine, n=1, kind="start", interval=0, active=None),
        event("bracketed", nine + timedelta(minutes=5), n=2, interval=300, active=120),
        event("bracketed", nine + timedelta(minutes=7), n=3, kind="stop", interval=0, active=None),
        # a remote desktop session counts for the person who connected, not the host's account
        event("ts-host", nine, n=1, user="TS\\rdp-svc", originating_user="CORP\\ana", session_type="rdp"),
        event("ana-desk", at(14), n=1),
    ]
    # a laptop offline for three days: its newest event arrives first, then the buffer
    laptop = [event("laptop", at(20), n=1, user="CORP\\traveller")]
    laptop += [
        event("laptop", at(10, day=-2) + timedelta(minutes=m), n=10 + m, user="CORP\\traveller") for m in range(3)
    ]
    laptop += [
        event("laptop", at(16, day=-1) + timedelta(minutes=m), n=20 + m, user="CORP\\traveller") for m in range(2)
    ]
    # beyond the allowed lateness (7 days): set aside, never a session
    late = [event("too-late", datetime.now(UTC) - timedelta(days=8), n=1)]
    return messages + laptop + late


@pytest.fixture(scope="module")
def pipeline(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp("session-cases")
    pipeline = Pipeline(root=root, warehouse_url=f"chdb://{root / 'warehouse'}")
    pipeline.kcat_produce(cases())
    pipeline.run_until_caught_up()
    yield pipeline


def sessions_of(pipeline: Pipeline, device: str) -> list[tuple[str, str, float, float, float, int]]:
    rows = pipeline.query(
        "SELECT device_id, toString(started_at) AS s, toString(ended_at) AS e, running_seconds, active_seconds,"
        " idle_seconds, event_count FROM usage_sessions ORDER BY device_id, started_at"
    )
    return [(r["s"], r["e"], float(r["running_seconds"]), float(r["active_seconds"]), float(r["idle_seconds"]),
             int(r["event_count"])) for r in rows if r["device_id"] == device]  # fmt: skip


def clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.000")


def test_a_gap_longer_than_30_minutes_closes_the_session(pipeline):
    nine = at(9)
    assert sessions_of(pipeline, "gap-close") == [
        (clock(nine - timedelta(minutes=1)), clock(nine + timedelta(minutes=10)), 660, 60, 600, 2),
        (clock(nine + timedelta(minutes=41)), clock(nine + timedelta(minutes=42)), 60, 30, 30, 1),
    ]


def test_heartbeats_exactly_on_the_gap_boundary_stay_one_session(pipeline):
    nine = at(9)
    assert [s[:3] for s in sessions_of(pipeline, "beat-on")] == [
        (clock(nine), clock(nine + timedelta(minutes=30)), 1800)
    ]


def test_heartbeats_just_past_the_gap_boundary_make_two(pipeline):
    nine = at(9)
    later = nine + timedelta(minutes=30, seconds=1)
    assert [s[:3] for s in sessions_of(pipeline, "beat-past")] == [(clock(nine), clock(nine), 0),
                                                                   (clock(later), clock(later), 0)]  # fmt: skip


def test_overlapping_instances_count_once(pipeline):
    nine = at(9)
    assert sessions_of(pipeline, "two-windows") == [(clock(nine - timedelta(minutes=5)), clock(nine), 300, 300, 0, 2)]


def test_start_samples_and_stop_bracket_one_session(pipeline):
    nine = at(9)
    assert sessions_of(pipeline, "bracketed") == [(clock(nine), clock(nine + timedelta(minutes=7)), 420, 120, 300, 3)]


def test_a_remote_session_counts_for_the_person_who_connected(pipeline):
    rows = pipeline.query(
        "SELECT device_id, user_key, session_type FROM usage_sessions WHERE device_id IN ('ts-host', 'ana-desk')"
        " ORDER BY device_id"
    )
    desk, host = rows
    assert host["session_type"] == "rdp" and desk["session_type"] == "console"
    assert host["user_key"] == desk["user_key"]
    assert "ana" not in host["user_key"].lower(), "user keys are pseudonyms"


def test_a_device_offline_for_three_days_books_use_to_the_days_it_happened(pipeline):
    assert [s[5] for s in sessions_of(pipeline, "laptop")] == [3, 2, 1]
    days = pipeline.query(
        "SELECT toString(day) AS day, sessions, active_seconds FROM usage_daily"
        " WHERE user_key IN (SELECT user_key FROM usage_sessions WHERE device_id = 'laptop') ORDER BY day"
    )
    assert [(d["day"], int(d["sessions"]), Decimal(str(d["active_seconds"]))) for d in days] == [
        (at(0, day=-2).date().isoformat(), 1, Decimal(90)),
        (at(0, day=-1).date().isoformat(), 1, Decimal(60)),
        (at(0).date().isoformat(), 1, Decimal(30)),
    ]


def test_an_event_beyond_the_lateness_bound_is_set_aside(pipeline):
    assert sessions_of(pipeline, "too-late") == []
    assert pipeline.kcat_count(pipeline.topic + ".late") == 1
