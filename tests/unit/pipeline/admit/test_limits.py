"""Bounded work per message: limits on events, on the minutes one event spans, and on rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.usage import ExecutableRef, UsageEvent, UsageKind, UsageSource
from streams.pipeline.admit.door import Door, DoorPolicy
from streams.pipeline.admit.limits import WorkLimits, minutes_spanned, within_row_budget, work_problem
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.batch import ingest_batch
from streams.pipeline.decode.opening import SourceDecoded
from tests.unit.helpers import agent_event, record

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
WEEK = 7 * 24 * 3600.0


def usage(interval: float, minute: int = 0) -> UsageEvent:
    return UsageEvent(
        event_id=f"e{minute}",
        source=UsageSource.AGENT,
        source_instance="agent",
        event_time=datetime(2026, 11, 27, 10, minute, 30, tzinfo=UTC),
        user="u",
        kind=UsageKind.SAMPLE,
        executable=ExecutableRef("/x", "x"),
        interval_seconds=interval,
    )


@pytest.mark.parametrize(
    ("interval", "minutes"),
    [
        pytest.param(0, 1, id="no interval: its own minute"),
        pytest.param(60, 2, id="a minute not aligned touches two"),
        pytest.param(900, 16, id="an osquery poll"),
        pytest.param(WEEK, 10_081, id="a week"),
    ],
)
def test_minutes_spanned_bounds_the_rows_an_event_can_make(interval, minutes):
    assert minutes_spanned(usage(interval)) == minutes


LIMITS = WorkLimits(max_events=5, max_span_minutes=60, max_rows=100)


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        pytest.param([usage(60, m) for m in range(5)], None, id="within every limit"),
        pytest.param([usage(60, m) for m in range(6)], "6 events exceeds the 5 events", id="too many events"),
        pytest.param([usage(60), usage(3600)], "event 1 spans 61 minutes", id="one event spans too long"),
        pytest.param([usage(3000, m) for m in range(3)], "up to 153 minute rows", id="too many rows in all"),
    ],
)
def test_work_problem(events, reason):
    problem = work_problem(SourceDecoded(events=events), LIMITS)
    assert problem is None if reason is None else reason in problem


def test_an_amplifying_envelope_is_dead_lettered_whole_and_its_neighbours_counted():
    samples = [
        agent_event(
            event_id=f"w{i}",
            event_time="2026-11-27T17:00:00Z",
            interval_seconds=WEEK,
            active_seconds=WEEK,
            idle_seconds=0,
        )
        for i in range(100)
    ]
    good = agent_event(event_id="good", event_time="2026-11-27T17:00:00Z")
    batch = [record(good, offset=0), record({"events": samples}, offset=1), record(good | {"event_id": "g2"}, offset=2)]
    step = ingest_batch(batch, {}, PseudonymKey("k1", b"test"), Door(DoorPolicy()), NOW)
    assert [(r.record.offset, r.stage) for r in step.rejections] == [(1, "bound")]
    assert "spans 10081 minutes" in step.rejections[0].reason
    assert step.events == 2
    assert sum(r.event_count for r in step.rollups) == 2


def test_a_batch_within_the_row_budget_is_one_part():
    records = [record(b"{}", offset=o) for o in range(3)]
    admitted = [(usage(900, minute=o), r) for o, r in enumerate(records)]
    assert within_row_budget(records, admitted, budget=48) == [records]


def test_a_batch_over_the_row_budget_is_worked_through_in_consecutive_parts():
    records = [record(b"{}", offset=o) for o in range(5)]
    admitted = [(usage(900, minute=o), r) for o, r in enumerate(records) for _ in range(2)]  # 32 rows each
    parts = within_row_budget(records, admitted, budget=70)
    assert parts == [records[0:2], records[2:4], records[4:5]]
    assert [r for part in parts for r in part] == records, "every message once, in order"


def test_a_message_over_the_budget_alone_is_a_part_and_messages_without_events_cost_nothing():
    records = [record(b"{}", offset=o) for o in range(4)]
    admitted = [(usage(WEEK), records[1])]
    assert within_row_budget(records, admitted, budget=100) == [records[0:1], records[1:4]]
