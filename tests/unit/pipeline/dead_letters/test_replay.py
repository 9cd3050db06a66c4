from datetime import UTC, datetime

import pytest

from schemas.records import Rejection, SourceRecord
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.dead_letters.letters import dead_letter_headers, to_dead_letter
from streams.pipeline.dead_letters.replay import REPLAYED_FROM, ReplayFilter, plan_replay
from streams.pipeline.dead_letters.seal import Sealer

SEALER = Sealer(PseudonymKey("k1", b"replay"))
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def dlq_record(stage, reason, payload, offset, sealer=SEALER):
    source = SourceRecord("agent", 1, offset, payload, key=b"WS-7")
    letter = to_dead_letter(Rejection(source, stage, reason, payload), NOW, sealer)
    return SourceRecord("agent.dlq", 0, offset, letter.payload, b"agent:1", tuple(dead_letter_headers(letter)))


RECORDS = [
    dlq_record("decode", "schema_version: unsupported", b"one", 10),
    dlq_record("admit", "event_time is 400s ahead", b"two", 11),
    dlq_record("decode", "not valid JSON", b"three", 12, sealer=None),
    SourceRecord("agent.dlq", 0, 13, b"stray", None, ()),
]


@pytest.mark.parametrize(
    ("wanted", "values"),
    [
        pytest.param(ReplayFilter(), [b"one", b"two", b"three"], id="everything readable"),
        pytest.param(ReplayFilter(stage="admit"), [b"two"], id="by stage"),
        pytest.param(ReplayFilter(reason_contains="SCHEMA_VERSION"), [b"one"], id="by reason, any case"),
    ],
)
def test_plan_replay_opens_selects_and_keeps_the_key(wanted, values):
    plan = plan_replay(RECORDS, wanted, SEALER)
    assert [r.value for r in plan] == values
    assert {r.topic for r in plan} == {"agent"}
    assert {r.key for r in plan} == {b"WS-7"}
    assert all(dict(r.headers)[REPLAYED_FROM].startswith(b"agent.dlq:0:") for r in plan)
