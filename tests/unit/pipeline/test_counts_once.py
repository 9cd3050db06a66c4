"""One event id counts once, whatever path it came by: the pure stages of a batch (admit, count,
sessionize) over any cut of the same events into deliveries, on any topics and partitions, in
any order and with any repeats, give the same per-minute figures and the same sessions. The
warehouse is modelled by what the stages read from it: the ids counted so far (what replays and
SSO sources look up) and the latest version of each session."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.records import SessionRow, SourceRecord
from schemas.settings import SessionSettings
from streams.pipeline.admit.door import Door, DoorPolicy
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.aggregate.minutes import epoch_ms
from streams.pipeline.batch import Known, count_batch, read_batch
from streams.pipeline.dedupe.seen import SeenKey
from streams.pipeline.sessionize.sessions import KeyState, build_session_rules, sessionize_batch
from tests.unit.helpers import agent_event, record

KEY = PseudonymKey("k1", b"test")
DOOR = Door(DoorPolicy())
RULES = build_session_rules(SessionSettings(), 7 * 86_400)
START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

events = st.lists(
    st.tuples(st.integers(0, 240), st.sampled_from(["WS-1", "WS-2"]), st.sampled_from(["EXCEL.EXE", "acad.exe"])),
    min_size=1,
    max_size=30,
)


class Warehouse:
    """What the stages read back: counted ids, and sessions as ``usage_sessions`` shows them."""

    def __init__(self) -> None:
        self.counted: set[SeenKey] = set()
        self.per_minute: Counter[tuple[datetime, str]] = Counter()
        self.versions: dict[int, SessionRow] = {}
        self.states: dict[str, KeyState] = {}

    def deliver(self, records: list[SourceRecord]) -> None:
        now = max(START, *(r_time(r) for r in records))
        admitted = read_batch(records, {}, KEY, DOOR, now)
        elsewhere = self.counted & set(admitted.seen_keys())
        step = count_batch(admitted, Known(counted_elsewhere=elsewhere))
        for keys in step.counted.values():
            self.counted.update(keys)
        for rollup in step.rollups:
            self.per_minute[(rollup.minute, rollup.product)] += rollup.event_count
        for update in sessionize_batch(self.states, step.observations, RULES, epoch_ms(now)):
            self.states[update.state_key] = update.state
            for row in update.rows:
                kept = self.versions.get(row.session_id)
                if kept is None or (row.version, row.deleted) >= (kept.version, kept.deleted):
                    self.versions[row.session_id] = row

    def sessions(self) -> list[tuple[object, ...]]:
        return sorted(
            (r.device_id, r.product, r.started_at, r.ended_at, r.active_ms, r.event_count)
            for r in self.versions.values()
            if not r.deleted
        )


def r_time(record: SourceRecord) -> datetime:
    return datetime.fromisoformat(record.value.split(b'"event_time":"')[1].split(b'"')[0].decode())


def message(index: int, minute: int, device: str, exe: str) -> bytes:
    moment = (START + timedelta(minutes=minute)).isoformat()
    event = agent_event(event_id=f"e-{index}", event_time=moment, device_id=device)
    event["executable"] = {"path": f"C:\\X\\{exe}", "file_name": exe}
    return record(event).value


@settings(max_examples=60, deadline=None)
@given(events, st.randoms(use_true_random=False), st.integers(1, 5), st.integers(0, 10))
def test_any_cut_order_repeats_and_partitions_give_the_same_figures(items, random, batches, repeats):
    values = [message(i, *item) for i, item in enumerate(items)]
    baseline = Warehouse()
    baseline.deliver([SourceRecord("agent", 0, i, v) for i, v in enumerate(values)])

    sent = list(values) + [random.choice(values) for _ in range(repeats)]
    random.shuffle(sent)
    cuts = sorted(random.sample(range(1, len(sent)), min(batches, len(sent)) - 1)) if len(sent) > 1 else []
    replayed = Warehouse()
    for number, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(sent)], strict=True)):
        topic = f"replay.agent.{number}"
        replayed.deliver([SourceRecord(topic, 0, offset, v) for offset, v in enumerate(sent[a:b])])

    assert replayed.per_minute == baseline.per_minute
    assert replayed.sessions() == baseline.sessions()
