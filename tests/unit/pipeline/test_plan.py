"""The batch plan: named cases of what a batch and what was fetched for it turn into."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from schemas.settings import Settings
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.batch import BatchPlan, Known, build_ingest_rules, plan_batch, read_batch
from streams.pipeline.dedupe.seen import seen_key
from tests.unit.helpers import agent_event, record

KEY = PseudonymKey("k1", b"test")
NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
RULES = build_ingest_rules(Settings(), KEY)
CLICK_TO_RUN = {"path": "C:\\Office\\OfficeClickToRun.exe", "file_name": "OfficeClickToRun.exe"}
EXCEL_MINUTE_KEY = seen_key(int(datetime(2026, 11, 27, 10, 1, tzinfo=UTC).timestamp() * 1000), "e-1")


@dataclass(frozen=True)
class Case:
    name: str
    records: list
    written: dict = field(default_factory=dict)
    known: Known = field(default_factory=Known)
    letters: list[str] = field(default_factory=list)
    late: int = 0
    counted_events: int = 0
    duplicates: int = 0
    background: int = 0
    already_written: int = 0
    sessions_changed: int = 0
    seen_marks: dict = field(default_factory=dict)
    last_offsets: dict = field(default_factory=dict)


CASES = [
    Case(
        "one usage event: a rollup, a session, marks",
        [record(agent_event(), offset=4)],
        counted_events=1,
        sessions_changed=1,
        seen_marks={("agent", 0): 4},
        last_offsets={("agent", 0): 4},
    ),
    Case(
        "not JSON: a dead letter, and the partition still moves on",
        [record(b"{nope", offset=7)],
        letters=["decode"],
        last_offsets={("agent", 0): 7},
    ),
    Case(
        "older than the allowed lateness: a late letter, nothing counted",
        [record(agent_event(event_time="2026-11-01T10:00:00Z"), offset=1)],
        late=1,
        last_offsets={("agent", 0): 1},
    ),
    Case(
        "counted before by its partition: a duplicate, no session change",
        [record(agent_event(), offset=2)],
        known=Known(seen={("agent", 0): {EXCEL_MINUTE_KEY}}),
        duplicates=1,
        last_offsets={("agent", 0): 2},
    ),
    Case(
        "counted under another partition by the warehouse: a duplicate",
        [record(agent_event(), offset=2, partition=1)],
        known=Known(counted_elsewhere={EXCEL_MINUTE_KEY}),
        duplicates=1,
        last_offsets={("agent", 1): 2},
    ),
    Case(
        "the same event twice in one batch: counted once",
        [record(agent_event(), offset=0), record(agent_event(), offset=1)],
        counted_events=1,
        duplicates=1,
        sessions_changed=1,
        seen_marks={("agent", 0): 1},
        last_offsets={("agent", 0): 1},
    ),
    Case(
        "background software: named, not counted as use",
        [record(agent_event(executable=CLICK_TO_RUN), offset=3)],
        background=1,
        last_offsets={("agent", 0): 3},
    ),
    Case(
        "already in the warehouse: skipped whole",
        [record(agent_event(), offset=3)],
        written={("agent", 0): 3},
        already_written=1,
    ),
    Case(
        "a good and a bad message: each goes its way",
        [record(agent_event(), offset=0), record({"events": "x"}, offset=1)],
        letters=["decode"],
        counted_events=1,
        sessions_changed=1,
        seen_marks={("agent", 0): 1},
        last_offsets={("agent", 0): 1},
    ),
]


def plan(case: Case) -> BatchPlan:
    read = read_batch(case.records, case.written, KEY, RULES.door, NOW)
    return plan_batch(case.records, read, case.known, RULES, NOW)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_plan_of_a_batch(case):
    planned = plan(case)
    step = planned.step
    assert [letter.stage for letter in planned.dead_letters] == case.letters
    assert len(planned.late_letters) == case.late
    assert sum(r.event_count for r in step.rollups) == case.counted_events
    assert step.duplicates == case.duplicates
    assert step.background == case.background
    assert step.already_written == case.already_written
    assert len(planned.session_updates) == case.sessions_changed
    assert planned.seen_marks == case.seen_marks
    assert step.last_offsets == case.last_offsets


def test_what_the_read_asks_to_fetch_is_what_the_plan_uses():
    records = [record(agent_event(event_id=f"e-{i}", device_id=f"WS-{i % 2}"), offset=i) for i in range(4)]
    read = read_batch(records, {}, KEY, RULES.door, NOW)
    assert read.seen_keys_by_partition() == {("agent", 0): read.seen_keys()}
    planned = plan_batch(records, read, Known(), RULES, NOW)
    assert sorted(u.state_key for u in planned.session_updates) == read.state_keys()


def test_a_state_fetched_for_a_key_is_continued_not_restarted():
    first_records = [record(agent_event(), offset=0)]
    first = plan_batch(first_records, read_batch(first_records, {}, KEY, RULES.door, NOW), Known(), RULES, NOW)
    [update] = first.session_updates
    later = agent_event(event_id="e-2", event_time="2026-11-27T10:02:00Z")
    records = [record(later, offset=1)]
    read = read_batch(records, {("agent", 0): 0}, KEY, RULES.door, NOW)
    again = plan_batch(records, read, Known(states={update.state_key: update.state}), RULES, NOW)
    fresh = plan_batch(records, read, Known(), RULES, NOW)
    continued = {row.session_id for row in again.session_rows if not row.deleted}
    assert continued == {row.session_id for row in first.session_rows}
    assert max(row.event_count for row in again.session_rows) == 2
    assert max(row.event_count for row in fresh.session_rows) == 1


def test_dead_letters_are_sealed_and_stamped_with_the_given_time():
    records = [record(b"{nope")]
    stamped = datetime(2026, 11, 28, tzinfo=UTC)
    planned = plan_batch(records, read_batch(records, {}, KEY, RULES.door, NOW), Known(), RULES, NOW, stamped)
    [letter] = planned.dead_letters
    assert letter.dead_lettered_at == stamped
    assert letter.payload != b"{nope"


def test_arrivals_name_the_source_the_device_and_the_writer():
    records = [record(agent_event(), offset=0)]
    planned = plan_batch(records, read_batch(records, {}, KEY, RULES.door, NOW), Known(), RULES, NOW)
    assert {(a.kind, a.subject) for a in planned.arrivals} >= {("source", "agent"), ("device", "WS-1")}
    assert all(a.seen_at == NOW for a in planned.arrivals)
