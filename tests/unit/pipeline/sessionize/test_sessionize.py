"""Sessions as a pure function: order, duplicates, batching and crashes must not change them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.records import SessionRow
from schemas.settings import ProductSessionRule, SessionSettings
from streams.pipeline.admit.door import Door, DoorPolicy
from streams.pipeline.admit.pseudonymize import PseudonymKey, pseudonymize
from streams.pipeline.batch import ingest_batch
from streams.pipeline.sessionize.sessions import (
    KeyedObservation,
    KeyState,
    Observation,
    SessionKey,
    build_session_rules,
    definition_rows,
    definition_version,
    session_id,
    sessionize_batch,
)
from tests.unit.helpers import agent_event, record

MIN = 60_000
T0 = 1_795_000_000_000 - 1_795_000_000_000 % MIN
KEY = SessionKey("WS-1", "u1", "Microsoft Excel")
RULES = build_session_rules(SessionSettings(), allowed_lateness_seconds=7 * 86_400)
WATERMARK = T0 + 4 * 86_400_000


def sample(minute: float, active: float | None = 60, interval: float = 60, **kw) -> Observation:
    end = T0 + round(minute * MIN)
    return Observation(end - round(interval * 1000), end, None if active is None else round(active * 1000), **kw)


def keyed(observations, key=KEY, first_offset=0, topic="agent", partition=0):
    return [KeyedObservation(key, o, topic, partition, first_offset + i) for i, o in enumerate(observations)]


class Warehouse:
    """What ``usage_sessions`` shows: the highest version per id, deleted ids dropped."""

    def __init__(self) -> None:
        self.rows: dict[int, SessionRow] = {}

    def write(self, rows: list[SessionRow]) -> None:
        for row in rows:
            held = self.rows.get(row.session_id)
            if held is None or row.version >= held.version:
                self.rows[row.session_id] = row

    def sessions(self) -> list[SessionRow]:
        return sorted((r for r in self.rows.values() if not r.deleted), key=lambda r: (r.product, r.started_at))


def run(batches: list[list[KeyedObservation]], states=None, warehouse=None, watermark=WATERMARK):
    states = {} if states is None else states
    warehouse = warehouse or Warehouse()
    for batch in batches:
        for update in sessionize_batch(states, batch, RULES, watermark):
            warehouse.write(update.rows)
            states[update.state_key] = KeyState.from_bytes(update.state.to_bytes())
    return warehouse.sessions(), states, warehouse


def shape(rows):
    return [(r.started_at, r.ended_at, r.running_ms, r.active_ms, r.idle_ms, r.event_count) for r in rows]


def test_samples_within_the_gap_make_one_session():
    rows, _, _ = run([keyed([sample(1), sample(2), sample(10)])])
    assert shape(rows) == [(_dt(0), _dt(10), 10 * MIN, 3 * MIN, 7 * MIN, 3)]


def test_a_gap_longer_than_the_session_gap_closes_the_session():
    rows, _, _ = run([keyed([sample(1), sample(31.001, interval=0, active=0)])])
    assert len(rows) == 2


def test_heartbeats_exactly_one_gap_apart_stay_in_one_session():
    on_the_boundary = keyed([sample(1, interval=0, active=0), sample(31, interval=0, active=0)])
    just_past = keyed([sample(1, interval=0, active=0), sample(31.0001, interval=0, active=0)])
    assert len(run([on_the_boundary])[0]) == 1
    assert len(run([just_past])[0]) == 2


def test_a_late_event_bridging_the_gap_merges_two_sessions_and_withdraws_one():
    first, _, warehouse = run([keyed([sample(1), sample(50)])])
    assert len(first) == 2
    merged, _, warehouse = run([keyed([sample(25)], first_offset=5)], states=_, warehouse=warehouse)
    assert shape(merged) == [(_dt(0), _dt(50), 50 * MIN, 3 * MIN, 47 * MIN, 3)]
    withdrawn = [r for r in warehouse.rows.values() if r.deleted]
    assert [r.started_at for r in withdrawn] == [_dt(49)]


def test_a_late_event_before_the_start_moves_the_start_and_the_id():
    rows, states, warehouse = run([keyed([sample(40)])])
    old_id = rows[0].session_id
    rows, _, warehouse = run([keyed([sample(20)], first_offset=1)], states=states, warehouse=warehouse)
    assert rows[0].started_at == _dt(19) and rows[0].session_id != old_id
    assert warehouse.rows[old_id].deleted


def test_overlapping_instances_count_once():
    two_windows = keyed([sample(5, interval=300, active=200), sample(5, interval=300, active=200)])
    rows, _, _ = run([two_windows])
    assert shape(rows) == [(_dt(0), _dt(5), 5 * MIN, 5 * MIN, 0, 2)]


def test_remote_sessions_are_attributed_to_the_connecting_user():
    door = Door(DoorPolicy())
    key = PseudonymKey("k1", b"test")
    event = agent_event(user="SERVER\\svc-rdp", originating_user="CORP\\ana", session_type="rdp")
    step = ingest_batch([record(event)], {}, key, door, datetime(2026, 11, 27, 12, tzinfo=UTC))
    (observation,) = step.observations
    assert observation.key.user_key == pseudonymize("CORP\\ana", key)
    rows, _, _ = run([step.observations])
    assert rows[0].session_type == "rdp" and rows[0].user_key == pseudonymize("CORP\\ana", key)


def test_a_device_offline_for_three_days_uploads_its_buffer():
    today = keyed([sample(3 * 1440 + m) for m in range(1, 4)])
    buffered = keyed([sample(m) for m in range(1, 6)] + [sample(1440 + m) for m in range(1, 3)], first_offset=100)
    rows, _, _ = run([today, buffered])
    assert [r.event_count for r in rows] == [5, 2, 3]
    assert [r.started_at.date().isoformat() for r in rows] == sorted(r.started_at.date().isoformat() for r in rows)


def test_a_replayed_batch_changes_nothing():
    batch = keyed([sample(1), sample(2), sample(40)])
    once, states, warehouse = run([batch])
    again = sessionize_batch(states, batch, RULES, WATERMARK)
    assert again == []
    assert run([batch], states=states, warehouse=warehouse)[0] == once


def test_a_crash_with_other_batch_boundaries_gives_the_same_sessions():
    """Batch two's rows reach the warehouse, its state does not; the replay batches differently."""
    events = keyed([sample(m) for m in (1, 2, 50, 25, 3, 90)])
    straight, _, _ = run([events])
    states: dict[str, KeyState] = {}
    warehouse = Warehouse()
    run([events[:2]], states=states, warehouse=warehouse)
    saved = dict(states)
    run([events[2:4]], states=dict(saved), warehouse=warehouse)
    resumed, _, _ = run([events[2:5], events[5:]], states=saved, warehouse=warehouse)
    assert shape(resumed) == shape(straight)


def test_sessions_no_event_can_reach_leave_state_but_not_the_warehouse():
    rows, states, _ = run([keyed([sample(1)])], watermark=T0 + 30 * 86_400_000)
    assert len(rows) == 1
    (state,) = states.values()
    assert state.sessions == () and state.marks == {"agent:0": 0}


def test_unmeasured_sessions_count_as_use_only_for_sign_ins():
    snapshots = keyed([sample(1, active=None, interval=900)])
    signins = keyed([sample(1, active=None, interval=0, signin=True)], key=SessionKey("", "u1", "Slack"))
    rows, _, _ = run([snapshots + signins])
    by_product = {r.product: r for r in rows}
    assert by_product["Microsoft Excel"].counts_as_use is False
    assert by_product["Microsoft Excel"].running_ms == 15 * MIN and by_product["Microsoft Excel"].idle_ms == 0
    assert by_product["Slack"].counts_as_use is True


def test_per_product_rules_and_a_versioned_definition():
    custom = SessionSettings(products={"AutoCAD": ProductSessionRule(gap_minutes=120, min_active_seconds=600)})
    rules = build_session_rules(custom, 7 * 86_400)
    assert rules.rule("AutoCAD").gap_ms == 120 * MIN and rules.rule("AutoCAD").min_active_ms == 600_000
    assert rules.rule("Microsoft Excel") == RULES.default
    assert definition_version(custom) != definition_version(SessionSettings())
    assert definition_version(custom) == definition_version(SessionSettings.model_validate(custom.model_dump()))
    rows = definition_rows(custom)
    assert [r[1] for r in rows] == ["", "AutoCAD"] and rows[1][2] == 7200


def test_short_sessions_do_not_count_as_use():
    rows, _, _ = run([keyed([sample(1, active=59)])])
    assert rows[0].counts_as_use is False
    rows, _, _ = run([keyed([sample(1, active=60)])])
    assert rows[0].counts_as_use is True


def test_session_ids_name_key_and_start():
    assert session_id(KEY, T0) == session_id(replace(KEY), T0)
    assert session_id(KEY, T0) != session_id(KEY, T0 + 1)
    assert session_id(KEY, T0) != session_id(replace(KEY, device_id="WS-2"), T0)


observation_lists = st.lists(
    st.tuples(
        st.integers(0, 600),
        st.sampled_from([0, 30, 60, 300, 900]),
        st.one_of(st.none(), st.integers(0, 120)),
        st.sampled_from([KEY, replace(KEY, product="Adobe Photoshop"), replace(KEY, device_id="WS-2")]),
        st.sampled_from(["console", "rdp"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(observation_lists, st.randoms(use_true_random=False), st.integers(1, 7))
def test_any_order_and_any_batching_give_the_same_sessions(items, random, batch_size):
    events = [
        KeyedObservation(key, sample(minute, active, interval, session_type=kind), "agent", 0, 0)
        for minute, interval, active, key, kind in items
    ]
    in_time_order = sorted(events, key=lambda e: (e.observation.end_ms, e.observation.start_ms))
    shuffled = list(events)
    random.shuffle(shuffled)
    expected, _, _ = run([_offsets(in_time_order)])
    batches = _offsets(shuffled)
    got, _, _ = run([batches[i : i + batch_size] for i in range(0, len(batches), batch_size)])
    assert _content(got) == _content(expected)


def _offsets(events):
    return [replace(e, offset=i) for i, e in enumerate(events)]


def _content(rows):
    return sorted((r.session_id, r.device_id, r.product, shape([r])[0], r.session_type, r.counts_as_use) for r in rows)


def _dt(minute: float) -> datetime:
    from datetime import timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=T0 + round(minute * MIN))


@pytest.mark.parametrize("active", [None, 0, 30])
def test_state_round_trips_through_bytes(active):
    _, states, _ = run([keyed([sample(1, active=active, device_timezone="Europe/Berlin")])])
    (state,) = states.values()
    assert KeyState.from_bytes(state.to_bytes()) == state


def test_events_beyond_the_lateness_bound_never_reach_sessions():
    door = Door(DoorPolicy())
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    too_old = agent_event(event_id="old", event_time="2026-11-19T11:00:00Z")
    in_time = agent_event(event_id="new", event_time="2026-11-20T13:00:00Z")
    step = ingest_batch([record(too_old), record(in_time, offset=1)], {}, PseudonymKey("k1", b"t"), door, now)
    assert [r.reason for r in step.late] and len(step.observations) == 1
    rows, _, _ = run([step.observations], watermark=int(now.timestamp() * 1000))
    assert [r.started_at.date().isoformat() for r in rows] == ["2026-11-20"]
