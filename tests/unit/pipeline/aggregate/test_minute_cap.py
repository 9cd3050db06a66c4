"""Per-minute active time is capped at the wall clock per (device, user), across batches, and
agrees with the sessions built from the same samples."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.agent import AgentUsageEvent
from schemas.records import PlacedUsage, ProductMinuteRollup
from schemas.settings import SessionSettings
from streams.pipeline.aggregate.minutes import MINUTE_MS, aggregate_usage, capped_active_ms
from streams.pipeline.sessionize.sessions import (
    KeyedObservation,
    KeyState,
    Session,
    SessionKey,
    build_session_rules,
    merge_minutes,
    observe,
    sessionize_batch,
)
from tests.unit.helpers import agent_event

RULES = build_session_rules(SessionSettings(), allowed_lateness_seconds=7 * 86_400)


def sample(n: int, end: str, active: float, user: str = "ana", device: str = "WS-1", interval: float = 60):
    idle = max(0, interval - active)
    event = agent_event(event_id=f"e-{n}", event_time=f"2026-11-27T{end}Z", user=user, device_id=device,
                        active_seconds=active, idle_seconds=idle, interval_seconds=interval)  # fmt: skip
    return PlacedUsage(AgentUsageEvent.model_validate(event), "Microsoft Excel", f"key:{user}", "agent", 0, n)


def warehouse_active_ms(batches: Iterable[list[ProductMinuteRollup]]) -> dict[str, int]:
    """What product_usage_per_minute shows per minute: per (device, user) the summed active
    time capped at the widest span its rows covered, plus what rows hold without that split."""
    raw: dict[str, int] = defaultdict(int)
    uses: dict[tuple[str, tuple[str, str]], list[int]] = {}
    for rollups in batches:
        for r in rollups:
            minute = r.minute.strftime("%H:%M")
            raw[minute] += r.active_ms - sum(u.active_ms for u in r.uses)
            for u in r.uses:
                held = uses.setdefault((minute, (u.device_id, u.user_key)), [0, u.covered_from_ms, u.covered_to_ms])
                held[0] += u.active_ms
                held[1], held[2] = min(held[1], u.covered_from_ms), max(held[2], u.covered_to_ms)
    for (minute, _), (ms, low, high) in uses.items():
        raw[minute] += capped_active_ms(ms, low, high)
    return {minute: ms for minute, ms in sorted(raw.items()) if ms}


def session_active_ms(usages: list[PlacedUsage]) -> int:
    observations = [
        KeyedObservation(SessionKey(u.event.device_id or "", u.user_key, u.product), observe(u.event), u.topic,
                         u.partition, u.offset)
        for u in usages
    ]  # fmt: skip
    updates = sessionize_batch({}, observations, RULES, watermark_ms=0)
    return sum(row.active_ms for update in updates for row in update.rows if not row.deleted)


TWO_WINDOWS = [sample(0, "10:01:00", 50), sample(1, "10:01:00", 40)]
ACROSS_A_BOUNDARY = [sample(0, "10:01:30", 60), sample(1, "10:01:30", 60)]


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        pytest.param([TWO_WINDOWS], {"10:00": 60_000}, id="two windows in one minute in one batch"),
        pytest.param([TWO_WINDOWS[:1], TWO_WINDOWS[1:]], {"10:00": 60_000}, id="two windows in two batches"),
        pytest.param(
            [ACROSS_A_BOUNDARY], {"10:00": 30_000, "10:01": 30_000}, id="two windows across a minute boundary"
        ),
        pytest.param(
            [ACROSS_A_BOUNDARY[:1], ACROSS_A_BOUNDARY[1:]],
            {"10:00": 30_000, "10:01": 30_000},
            id="two windows across a minute boundary in two batches",
        ),
        pytest.param(
            [[sample(0, "10:01:00", 50), sample(1, "10:01:00", 40, device="WS-2")]],
            {"10:00": 90_000},
            id="two devices of one user count apart",
        ),
        pytest.param(
            [[sample(0, "10:01:00", 50), sample(1, "10:01:00", 40, user="ben")]],
            {"10:00": 90_000},
            id="two users add up",
        ),
        pytest.param(
            [[*TWO_WINDOWS, sample(2, "10:02:00", 30), sample(3, "10:03:00", 30)]],
            {"10:00": 60_000, "10:01": 30_000, "10:02": 30_000},
            id="two windows in one minute of a longer session",
        ),
        pytest.param(
            [[sample(0, "10:00:20", 20, interval=20), sample(1, "10:00:20", 20, interval=20)]],
            {"10:00": 20_000},
            id="two short samples claim only the 20 s they span",
        ),
        pytest.param(
            [[sample(0, "10:00:20", 20, interval=20), sample(1, "10:01:00", 20, interval=20)]],
            {"10:00": 40_000},
            id="samples apart in one minute keep their own time",
        ),
    ],
)
def test_minute_active_time_is_capped_at_the_clock_and_agrees_with_sessions(batches, expected):
    batch_rollups = [aggregate_usage(batch, {("agent", 0): 9}) for batch in batches]
    assert warehouse_active_ms(batch_rollups) == expected
    assert session_active_ms([u for batch in batches for u in batch]) == sum(expected.values())


def test_each_rollup_keeps_the_raw_sum_split_by_device_and_user():
    [rollup] = aggregate_usage([*TWO_WINDOWS, sample(2, "10:00:30", 10, user="ben", interval=30)], {("agent", 0): 2})
    assert rollup.active_ms == 100_000
    assert [(u.user_key, u.active_ms, u.covered_from_ms, u.covered_to_ms) for u in rollup.uses] == [
        ("key:ana", 90_000, 0, 60_000),
        ("key:ben", 10_000, 0, 30_000),
    ]


def test_state_written_before_minutes_were_kept_still_loads_and_keeps_its_time():
    old = orjson.dumps({"m": {"agent:0": 4}, "s": [[0, 120_000, 150_000, 3, 3, 0, "console", "UTC"]]})
    [session] = KeyState.from_bytes(old).sessions
    assert (session.minutes, session.active_time_ms()) == ((), 120_000)
    assert KeyState.from_bytes(KeyState.from_bytes(old).to_bytes()) == KeyState.from_bytes(old)


minute_tallies = st.dictionaries(
    st.integers(0, 30), st.tuples(st.integers(1, 90_000), st.integers(0, 30_000), st.integers(30_000, 60_000))
).map(lambda d: tuple((m * MINUTE_MS, *d[m]) for m in sorted(d)))


@given(minute_tallies, minute_tallies)
def test_merging_minute_tallies_adds_shares_and_widens_spans(a, b):
    expected = defaultdict(list)
    for minute, share, low, high in a + b:
        expected[minute].append((share, low, high))
    merged = {m: (sum(x[0] for x in v), min(x[1] for x in v), max(x[2] for x in v)) for m, v in expected.items()}
    assert merge_minutes(a, b) == tuple((m, *merged[m]) for m in sorted(merged))


def test_a_session_keeps_its_minutes_through_state():
    session = Session(
        61_000, 200_000, 0, 3, 3, 0, "console", "UTC", ((60_000, 5, 1_000, 60_000), (180_000, 7, 0, 20_000))
    )
    assert KeyState.from_bytes(KeyState((session,)).to_bytes()).sessions == (session,)
