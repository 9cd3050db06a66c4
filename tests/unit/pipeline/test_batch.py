from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas.settings import ScopeSettings, Settings
from streams.pipeline.admit.door import Door, DoorPolicy
from streams.pipeline.admit.pseudonymize import PseudonymKey, pseudonymize
from streams.pipeline.batch import Known, ingest_batch
from streams.pipeline.dedupe.seen import seen_key
from streams.runtime.sources import usage_sources
from tests.unit.helpers import FIXTURES, agent_event, agent_fixtures, record

KEY = PseudonymKey("k1", b"test")
NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
DOOR = Door(DoorPolicy())


def ingest(batch, written=None, door=DOOR, now=NOW):
    return ingest_batch(batch, written or {}, KEY, door, now)


def seen_key_of(event, event_id="same"):
    minute = datetime.fromisoformat(event["event_time"]).replace(second=0)
    return seen_key(int(minute.timestamp() * 1000), event_id)


def test_all_fixtures_flow_through_the_batch_step():
    batch = [record(p.read_bytes(), offset=i) for i, p in enumerate(agent_fixtures())]
    step = ingest(batch)
    assert step.rejections == [] and step.late == []
    documents = [orjson.loads(p.read_bytes()) for p in agent_fixtures()]
    usage = [e for d in documents for e in d.get("events", [d]) if e.get("kind") != "health"]
    assert step.events == len(usage)
    assert len(step.health) == sum(e.get("kind") == "health" for d in documents for e in d.get("events", [d]))
    assert {r.product for r in step.rollups} >= {"Microsoft Excel", "Adobe Photoshop", "Visual Studio Code"}


def test_raw_user_names_do_not_leave_the_batch_step():
    step = ingest([record(agent_event(user="CORP\\Zelda.Unique"))])
    users = {u for r in step.rollups for u in r.users}
    assert users == {pseudonymize("CORP\\Zelda.Unique", KEY)}
    assert "zelda" not in repr(step.rollups).casefold()


def test_replayed_records_are_skipped_and_counted():
    batch = [record(agent_event(event_id=str(i)), offset=i) for i in range(4)]
    step = ingest(batch, {("agent", 0): 1})
    assert step.already_written == 2
    assert step.events == 2
    assert step.last_offsets == {("agent", 0): 3}


def test_invalid_messages_still_move_the_partition_mark():
    step = ingest([record(agent_event(), offset=0), record(b"nope", offset=1)])
    assert len(step.rejections) == 1
    assert step.invalid_by_partition == {("agent", 0): 1}
    assert {r.batch_last_offset for r in step.rollups} == {1}


@pytest.mark.parametrize(
    ("event_time", "bucket", "reason_part"),
    [
        pytest.param(NOW + timedelta(minutes=6), "rejections", "ahead of the worker clock", id="from the future"),
        pytest.param(NOW + timedelta(minutes=4), None, None, id="within the clock skew"),
        pytest.param(NOW - timedelta(days=8), "late", "beyond the allowed lateness", id="too late"),
        pytest.param(NOW - timedelta(days=6, hours=23), None, None, id="late but allowed"),
    ],
)
def test_event_time_sanity(event_time, bucket, reason_part):
    envelope = {"events": [agent_event(event_id="ok"), agent_event(event_id="x", event_time=event_time.isoformat())]}
    step = ingest([record(envelope)])
    if bucket is None:
        assert step.events == 2 and not step.rejections and not step.late
        return
    [set_aside] = getattr(step, bucket)
    assert reason_part in set_aside.reason
    assert set_aside.item_index == 1
    assert orjson.loads(set_aside.payload)["event_id"] == "x"
    assert step.events == 1


@pytest.mark.parametrize(
    ("scope", "event", "rule"),
    [
        pytest.param(
            ScopeSettings(exclude_applications=("keepass.exe",)),
            agent_event(executable={"path": "C:\\Tools\\KeePass.exe", "file_name": "KeePass.exe"}),
            "excluded application",
            id="excluded by file name",
        ),
        pytest.param(
            ScopeSettings(exclude_applications=("*\\security\\*",)),
            agent_event(executable={"path": "C:\\Security\\vault.exe", "file_name": "vault.exe"}),
            "excluded application",
            id="excluded by path pattern",
        ),
        pytest.param(
            ScopeSettings(include_environments=("production",)),
            agent_event(environment="test"),
            "environment not included",
            id="environment not included",
        ),
        pytest.param(
            ScopeSettings(exclude_device_groups=("lab",)),
            agent_event(device_group="lab"),
            "excluded device group",
            id="excluded device group",
        ),
    ],
)
def test_out_of_scope_events_are_dropped_and_only_counted(scope, event, rule):
    step = ingest([record(event)], door=Door(DoorPolicy(scope=scope)))
    assert step.out_of_scope == {rule: 1}
    assert step.rollups == [] or all(r.event_count == 0 for r in step.rollups)
    assert not step.rejections and not step.late


def test_remote_use_counts_for_the_person_who_connected():
    event = agent_event(session_type="citrix", originating_user="CORP\\real.person", user="CTX\\svc")
    step = ingest([record(event)])
    assert {u for r in step.rollups for u in r.users} == {pseudonymize("CORP\\real.person", KEY)}


def test_a_resent_event_in_the_same_batch_counts_once():
    batch = [record(agent_event(event_id="dup"), offset=0), record({"events": [agent_event(event_id="dup")]}, offset=1)]
    step = ingest(batch)
    assert step.duplicates == 1
    assert sum(r.event_count for r in step.rollups) == 1
    assert [list(keys) for keys in step.counted.values()] == [[(step.counted[("agent", 0)][0][0], "dup")]]


def test_an_event_counted_in_an_earlier_batch_counts_zero_times_now():
    first = ingest([record(agent_event(event_id="dup"))])
    [(partition, keys)] = first.counted.items()
    again = ingest_batch(
        [record(agent_event(event_id="dup"), offset=5)],
        {},
        KEY,
        DOOR,
        NOW,
        known=Known(seen={partition: set(keys)}),
    )
    assert again.duplicates == 1 and again.events == 0
    assert {r.event_count for r in again.rollups} <= {0}
    assert again.last_offsets == {("agent", 0): 5}


def test_same_id_in_another_partition_of_the_batch_counts_once():
    step = ingest(
        [record(agent_event(event_id="same"), partition=0), record(agent_event(event_id="same"), partition=1)]
    )
    assert step.duplicates == 1 and step.events == 1
    assert step.counted == {("agent", 0): [seen_key_of(agent_event())]}


def test_an_id_the_warehouse_counted_under_another_partition_counts_zero_times():
    copy = record(agent_event(event_id="same"), partition=3, offset=7)
    step = ingest_batch([copy], {}, KEY, DOOR, NOW, known=Known(counted_elsewhere={seen_key_of(agent_event(), "same")}))
    assert step.duplicates == 1 and step.events == 0
    assert step.counted == {}
    assert step.last_offsets == {("agent", 3): 7}


@pytest.mark.parametrize(
    ("scope", "counted"),
    [
        pytest.param(ScopeSettings(exclude_departments=("finance",)), ["ben", "cy"], id="excluded, any case"),
        pytest.param(ScopeSettings(include_departments=("Finance",)), ["ana"], id="only an included department"),
        pytest.param(ScopeSettings(), ["ana", "ben", "cy"], id="no department rule"),
    ],
)
def test_scope_by_department_uses_the_directory(scope, counted):
    departments = {pseudonymize("ana", KEY): "Finance", pseudonymize("ben", KEY): "Sales"}
    batch = [record(agent_event(event_id=u, user=u), offset=i) for i, u in enumerate(["ana", "ben", "cy"])]
    step = ingest_batch(batch, {}, KEY, Door(DoorPolicy(scope=scope)), NOW, departments=departments)
    users = {u for r in step.rollups for u in r.users}
    assert users == {pseudonymize(u, KEY) for u in counted}


@pytest.mark.parametrize("source", usage_sources(Settings()), ids=lambda s: s.name)
def test_every_stage_runs_over_every_sources_fixtures(source):
    """Valid samples of every source pass the whole batch step; invalid ones become dead letters."""
    folder = FIXTURES / source.name
    valid = [record(p.read_bytes(), offset=i) for i, p in enumerate(sorted(folder.glob("*.json")))]
    invalid = [record(p.read_bytes(), offset=100 + i) for i, p in enumerate(sorted(folder.glob("invalid/*.json")))]
    door = Door(DoorPolicy(allowed_lateness=timedelta(days=3650)))
    step = ingest_batch(valid + invalid, {}, KEY, door, NOW, source.decode)
    assert step.events > 0 and step.rollups
    assert {r.record.offset for r in step.rejections} >= {rec.offset for rec in invalid}
    assert all(r.reason for r in step.rejections)
    raw_users = {e.user for rec in valid for e in source.decode(rec).events}
    assert not any(user in repr(step.rollups) for user in raw_users)


@pytest.mark.parametrize(
    ("executable", "product"),
    [
        pytest.param({"path": "C:\\Office14\\EXCEL.EXE", "file_name": "EXCEL.EXE"}, "Microsoft Excel", id="2010"),
        pytest.param(
            {"path": "/Applications/Microsoft Excel.app/Contents/MacOS/Microsoft Excel", "file_name": "Excel"},
            "Microsoft Excel",
            id="excel on a mac counts with excel on windows",
        ),
        pytest.param(
            {"path": "C:\\Users\\ana\\Downloads\\tool123.exe", "file_name": "tool123.exe"},
            "tool123.exe",
            id="unknown keeps its file name",
        ),
        pytest.param(
            {"path": "C:\\Program Files (x86)\\Microsoft\\EdgeUpdate\\MicrosoftEdgeUpdate.exe",
             "file_name": "MicrosoftEdgeUpdate.exe"},
            None,
            id="updater never counts",
        ),
    ],
)  # fmt: skip
def test_products_are_named_by_the_catalog(executable, product):
    step = ingest([record(agent_event(executable=executable))])
    assert {r.product for r in step.rollups} == ({product} if product else set())
    assert step.background == (0 if product else 1)
