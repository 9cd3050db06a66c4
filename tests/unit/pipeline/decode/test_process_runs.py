"""osquery differential results through decode -> process_runs -> sessionize give the sessions that snapshot
results of the same process history give."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.osquery import HostLine, ProcessChange
from schemas.records import SessionRow
from schemas.settings import SessionSettings
from schemas.usage import ExecutableRef, UsageEvent, UsageKind, UsageSource
from streams.pipeline.admit.door import Door, DoorPolicy
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.batch import Known, ingest_batch
from streams.pipeline.decode.osquery import decode_osquery
from streams.pipeline.decode.process_runs import HostRuns, Run, expire, track_line, track_runs_batch
from streams.pipeline.sessionize.sessions import KeyState, build_session_rules, sessionize_batch
from tests.support.osquery_history import (
    INTERVAL,
    History,
    Process,
    differential_log,
    histories,
    poll_time,
    snapshot_log,
)
from tests.unit.helpers import record

KEY = PseudonymKey("k1", b"test")
LATENESS = 7 * 86_400
RULES = build_session_rules(SessionSettings(), allowed_lateness_seconds=LATENESS)
DOOR = Door(DoorPolicy(allowed_lateness=timedelta(seconds=LATENESS)))
NOW = datetime.fromtimestamp(poll_time(80), tz=UTC)
I_MS = INTERVAL * 1000
T0 = poll_time(0) * 1000


# --- the pipeline without Kafka -------------------------------------------------------------------------------------


class Seen:
    """The record of counted event ids, written after a batch (as the worker does after its inserts)."""

    def __init__(self) -> None:
        self.keys: set = set()

    def known(self, records):
        return Known(seen={(r.topic, r.partition): frozenset(self.keys) for r in records})


class Warehouse:
    """``usage_sessions``: the highest version per id, deleted ids dropped."""

    def __init__(self) -> None:
        self.rows: dict[int, SessionRow] = {}

    def write(self, rows):
        for row in rows:
            held = self.rows.get(row.session_id)
            if held is None or row.version >= held.version:
                self.rows[row.session_id] = row

    def sessions(self):
        return sorted(
            (r for r in self.rows.values() if not r.deleted), key=lambda r: (r.product, r.user_key, r.started_at)
        )


def replay(lines, batch_size=7, crash_after_state=frozenset()):
    """Lines through decode, the run stage, the ingest step and sessionize, batch by batch, keeping the
    states between batches as bytes. A batch in ``crash_after_state`` is applied twice, the second time
    from the states its first pass saved (a crash after the states, before the rollups)."""
    records = [record(line, offset=i, topic="osquery") for i, line in enumerate(lines)]
    runs: dict[str, HostRuns] = {}
    sessions: dict[str, KeyState] = {}
    seen, warehouse = Seen(), Warehouse()
    for number, start in enumerate(range(0, len(records), batch_size)):
        batch = records[start : start + batch_size]
        for _ in range(2 if number in crash_after_state else 1):
            step = track_runs_batch(runs, [(r, decode_osquery(r)) for r in batch], RULES.horizon_ms, _ms(NOW))
            ingest = ingest_batch(
                batch,
                {},
                KEY,
                DOOR,
                NOW,
                decode=lambda r, s=step: s.decoded[(r.topic, r.partition, r.offset)],
                known=seen.known(batch),
            )
            assert ingest.rejections == [] and ingest.late == []
            for update in sessionize_batch(sessions, ingest.observations, RULES, _ms(NOW)):
                warehouse.write(update.rows)
                sessions[update.state_key] = KeyState.from_bytes(update.state.to_bytes())
            for update in step.updates:
                runs[update.state_key] = HostRuns.from_bytes(b"" if update.state is None else update.state.to_bytes())
        seen.keys.update(k for keys in ingest.counted.values() for k in keys)
    return warehouse.sessions()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def by_key(rows):
    grouped: dict[tuple[str, str], list[SessionRow]] = {}
    for row in rows:
        grouped.setdefault((row.user_key, row.product), []).append(row)
    return grouped


def assert_same_sessions(snapshot, differential):
    """Same sessions per user and product: as many, starts and ends within one polling interval, running
    seconds within two, and the same days (``usage_daily``)."""
    expected, actual = by_key(snapshot), by_key(differential)
    assert actual.keys() == expected.keys()
    for key, rows in expected.items():
        assert len(actual[key]) == len(rows), key
        for want, got in zip(rows, actual[key], strict=True):
            assert abs(got.started_at - want.started_at) <= timedelta(seconds=INTERVAL)
            assert abs(got.ended_at - want.ended_at) <= timedelta(seconds=INTERVAL)
            assert abs(got.running_ms - want.running_ms) <= 2 * I_MS
    assert daily(snapshot).keys() == daily(differential).keys()


def daily(rows):
    days: dict[tuple[object, str, str], int] = {}
    for row in rows:
        key = (row.started_at.date(), row.user_key, row.product)
        days[key] = days.get(key, 0) + 1
    return days


# --- the property: snapshot and differential logs of one history agree ---------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.booleans(), st.booleans(), st.booleans(), st.integers(min_value=1, max_value=12), st.data())
def test_differential_and_snapshot_logs_give_the_same_sessions(history, batch, removed_first, split, size, data):
    crashes = data.draw(st.frozensets(st.integers(min_value=0, max_value=40), max_size=3), label="crashes")
    snapshot = replay(snapshot_log(history, one_line_per_row=split), size)
    differential = replay(differential_log(history, batch, removed_first), size, crashes)
    assert_same_sessions(snapshot, differential)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(heartbeat=False), st.booleans(), st.integers(min_value=1, max_value=12))
def test_without_a_heartbeat_runs_that_end_in_an_awake_log_agree_too(history, batch, size):
    assert_same_sessions(replay(snapshot_log(history), size), replay(differential_log(history, batch), size))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=12))
def test_batch_boundaries_and_replayed_batches_change_nothing(history, size, other_size):
    lines = differential_log(history)
    assert replay(lines, size) == replay(lines, other_size, crash_after_state=frozenset(range(50)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.randoms(use_true_random=False))
def test_lines_out_of_order_within_a_batch_give_the_same_sessions(history, random):
    lines = differential_log(history)
    shuffled = random.sample(lines, len(lines))
    assert replay(shuffled, batch_size=len(lines) or 1) == replay(lines, batch_size=len(lines) or 1)


# --- named cases ----------------------------------------------------------------------------------------------------

ALL_AFTERNOON = History(polls=30, processes=(Process(101, "chen", "/opt/acme/cad/acmecad", 2, 26),))


@pytest.mark.parametrize(
    ("history", "sessions"),  # (start, end) in seconds after poll 0; heartbeats 300 s after each poll
    [
        pytest.param(ALL_AFTERNOON, [(INTERVAL, 25 * INTERVAL + 300)], id="a run all afternoon is one session"),
        pytest.param(
            History(30, ALL_AFTERNOON.processes, asleep=frozenset(range(10, 15))),
            [(INTERVAL, 9 * INTERVAL + 300), (14 * INTERVAL + 300, 25 * INTERVAL + 300)],
            id="a host asleep for five polls splits it",
        ),
        pytest.param(
            History(30, ALL_AFTERNOON.processes, resets=frozenset({12})),
            [(INTERVAL, 25 * INTERVAL + 300)],
            id="a restart of osquery's state that logs it again does not split it",
        ),
        pytest.param(
            History(30, (Process(101, "chen", "/opt/acme/cad/acmecad", 2, 10),), resets=frozenset({12})),
            [(INTERVAL, 9 * INTERVAL + 300)],
            id="a run a restart missed ends at the last heartbeat it was running at",
        ),
        pytest.param(
            History(20, (Process(101, "chen", "/opt/acme/cad/acmecad", 2, 30),)),
            [(INTERVAL, 19 * INTERVAL + 300)],
            id="a run still open ends at the last heartbeat",
        ),
        pytest.param(
            History(30, ALL_AFTERNOON.processes, heartbeat_phase=None),
            [(INTERVAL, 25 * INTERVAL)],
            id="without a heartbeat a run lasts from added to the poll before removed",
        ),
    ],
)
def test_differential_runs(history, sessions):
    rows = replay(differential_log(history))
    start = datetime.fromtimestamp(poll_time(0), tz=UTC)
    assert [(r.started_at, r.ended_at) for r in rows] == [
        (start + timedelta(seconds=first), start + timedelta(seconds=end)) for first, end in sessions
    ]


def event(minute: int = 0) -> UsageEvent:
    return UsageEvent(
        event_id="osquery:x", source=UsageSource.OSQUERY, source_instance="osquery",
        event_time=datetime.fromtimestamp(T0 / 1000 + minute * 60, tz=UTC), user="chen", kind=UsageKind.SNAPSHOT,
        executable=ExecutableRef("/opt/x", "x"), device_id="h", interval_seconds=INTERVAL,
    )  # fmt: skip


def at(poll: int, **kw) -> HostLine:
    return HostLine("h", kw.pop("query", "q"), T0 + poll * I_MS, **kw)


def beat(poll: int, generation: str = "i-1:0") -> HostLine:
    return HostLine("h", "heartbeat", T0 + poll * I_MS, heartbeat=True, generation=generation)


ADDED = ProcessChange("run-1", True, event())
REMOVED = ProcessChange("run-1", False, event())


@pytest.mark.parametrize(
    ("steps", "coverage"),
    [
        pytest.param([(at(0), [ADDED])], [(-1, 0)], id="added is a sighting of the interval before"),
        pytest.param([(at(0), [ADDED]), (beat(1), [])], [(-1, 0), (0, 1)], id="a heartbeat sights it"),
        pytest.param(
            [(at(0), [ADDED]), (at(3, query="other"), [])],
            [(-1, 0), (-1, 3)],
            id="without a heartbeat, a line of any query covers it from the start",
        ),  # fmt: skip
        pytest.param(
            [(at(0), [ADDED]), (at(3), [REMOVED])],
            [(-1, 0), (-1, 2)],
            id="without a heartbeat, removed covers it to the poll before",
        ),  # fmt: skip
        pytest.param(
            [(at(0), [ADDED]), (beat(1), []), (at(3), [REMOVED])],
            [(-1, 0), (0, 1)],
            id="with a heartbeat, removed adds nothing",
        ),  # fmt: skip
        pytest.param([(at(0), [REMOVED])], [], id="removed without added counts nothing"),
        pytest.param(
            [(at(0), [ADDED]), (at(2, initial=True), [ADDED])],
            [(-1, 0), (-1, 2)],
            id="re-added after a restart goes on",
        ),  # fmt: skip
        pytest.param(
            [(at(0), [ADDED]), (at(2, initial=True), []), (at(3), [])],
            [(-1, 0)],
            id="not re-added after a restart: ended",
        ),  # fmt: skip
    ],
)
def test_track_line(steps, coverage):
    state, events = HostRuns(), []
    for line, changes in steps:
        state, emitted = track_line(HostRuns.from_bytes(state.to_bytes()), line, changes)
        events.extend(emitted)
    spans = [((e.event_time.timestamp() * 1000 - e.interval_seconds * 1000 - T0) / I_MS,
              (e.event_time.timestamp() * 1000 - T0) / I_MS) for e in events]  # fmt: skip
    assert spans == coverage


def test_a_line_applied_again_gives_the_same_state_and_sightings():
    state, first = track_line(HostRuns(), at(0), [ADDED])
    state, heartbeat = track_line(state, beat(1), [])
    again, repeated = track_line(state, beat(1), [])
    assert again == state
    assert repeated == heartbeat


def test_a_heartbeat_from_a_new_osquery_instance_ends_the_runs_not_logged_again():
    state, _ = track_line(HostRuns(), at(0), [ADDED])
    state, _ = track_line(state, beat(0, "i-1:0"), [])
    state, sightings = track_line(state, beat(2, "i-2:0"), [])
    assert sightings == []
    assert state.runs["run-1"].ended_ms == T0 + 2 * I_MS


OPEN = Run("q", T0, T0, None, None, event())
ENDED = Run("q", T0, T0, T0 + 4 * I_MS, None, event())


@pytest.mark.parametrize(
    ("state", "horizon", "kept"),
    [
        pytest.param(HostRuns({"a": OPEN}, last_seen_ms=T0), T0 + 1, None, id="a silent host is forgotten"),
        pytest.param(
            HostRuns({"a": OPEN, "b": ENDED}, last_seen_ms=T0 + 9 * I_MS),
            T0 + 5 * I_MS,
            {"a"},
            id="an ended run is dropped, an open one stays",
        ),  # fmt: skip
        pytest.param(
            HostRuns({"b": ENDED}, last_seen_ms=T0 + 9 * I_MS),
            T0 + 4 * I_MS,
            {"b"},
            id="an ended run within the horizon stays",
        ),  # fmt: skip
    ],
)
def test_expire(state, horizon, kept):
    expired = expire(state, horizon)
    assert (None if expired is None else set(expired.runs)) == kept


def test_hosts_without_runs_write_no_state_and_hosts_whose_runs_ended_are_emptied():
    snapshot_only = [
        (record(line, offset=i, topic="osquery"), None) for i, line in enumerate(snapshot_log(ALL_AFTERNOON))
    ]
    items = [(r, decode_osquery(r)) for r, _ in snapshot_only]
    assert track_runs_batch({}, items, RULES.horizon_ms, _ms(NOW)).updates == []
    short = History(4, (Process(101, "chen", "/opt/acme/cad/acmecad", 0, 2),))
    lines = [record(line, offset=i, topic="osquery") for i, line in enumerate(differential_log(short))]
    first = track_runs_batch({}, [(r, decode_osquery(r)) for r in lines[:2]], RULES.horizon_ms, _ms(NOW))
    [opened] = first.updates
    assert opened.state is not None and opened.state.runs
    later = datetime.fromtimestamp(poll_time(4), tz=UTC) + timedelta(seconds=RULES.horizon_ms / 1000)
    rest = [(r, decode_osquery(r)) for r in lines[2:]]
    [emptied] = track_runs_batch({opened.state_key: opened.state}, rest, RULES.horizon_ms, _ms(later)).updates
    assert emptied.state is None
