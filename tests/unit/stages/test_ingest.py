import orjson

from streams.stages.ingest import ingest_agent_batch
from streams.stages.pseudonymize import PseudonymKey, pseudonymize
from tests.unit.helpers import agent_event, agent_fixtures, record

KEY = PseudonymKey("k1", b"test")


def test_all_fixtures_flow_through_the_batch_step():
    batch = [record(p.read_bytes(), offset=i) for i, p in enumerate(agent_fixtures())]
    step = ingest_agent_batch(batch, {}, KEY)
    assert step.rejections == []
    assert step.events == sum(
        len(d["events"]) if "events" in d else 1 for d in (orjson.loads(p.read_bytes()) for p in agent_fixtures())
    )
    assert {r.product for r in step.rollups} >= {"excel.exe", "adobe photoshop 2025", "code"}


def test_raw_user_names_do_not_leave_the_batch_step():
    step = ingest_agent_batch([record(agent_event(user="CORP\\Zelda.Unique"))], {}, KEY)
    users = {u for r in step.rollups for u in r.users}
    assert users == {pseudonymize("CORP\\Zelda.Unique", KEY)}
    assert "zelda" not in repr(step.rollups).casefold()


def test_replayed_records_are_skipped_and_counted():
    batch = [record(agent_event(event_id=str(i)), offset=i) for i in range(4)]
    step = ingest_agent_batch(batch, {("agent", 0): 1}, KEY)
    assert step.already_written == 2
    assert step.events == 2
    assert step.last_offsets == {("agent", 0): 3}


def test_invalid_messages_still_move_the_partition_mark():
    step = ingest_agent_batch([record(agent_event(), offset=0), record(b"nope", offset=1)], {}, KEY)
    assert len(step.rejections) == 1
    assert {r.batch_last_offset for r in step.rollups} == {1}
