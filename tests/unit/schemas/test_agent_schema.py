from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.agent import AgentHealthEvent, AgentUsageEvent
from schemas.json_schema import PUBLISHED, render
from tests.unit.helpers import agent_event

JSON_DIR = Path(__file__).resolve().parents[3] / "schemas" / "json"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_checked_in_json_schema_matches_the_model(name):
    assert (JSON_DIR / name).read_bytes() == render(PUBLISHED[name]), "run `make schema` and commit the result"


@pytest.mark.parametrize(
    ("model", "changes"),
    [
        pytest.param(AgentUsageEvent, {"event_time": "0001-01-01T00:00:00+14:00"}, id="year 1 east of UTC"),
        pytest.param(AgentUsageEvent, {"event_time": "9999-12-31T23:59:59-14:00"}, id="year 9999 west of UTC"),
        pytest.param(AgentUsageEvent, {"event_time": "1969-12-31T23:59:59Z"}, id="before 1970"),
        pytest.param(AgentUsageEvent, {"event_time": "2100-01-01T00:00:00Z"}, id="from 2100"),
        pytest.param(AgentHealthEvent, {"buffered_events": 2**32}, id="buffered events past UInt32"),
        pytest.param(AgentHealthEvent, {"memory_bytes": 2**64}, id="memory past UInt64"),
    ],
)
def test_values_no_column_can_hold_are_refused_at_the_door(model, changes):
    with pytest.raises(ValidationError):
        model.model_validate(SAMPLES[model] | changes)


SAMPLES = {
    AgentUsageEvent: agent_event(),
    AgentHealthEvent: {
        "event_id": "h-1",
        "kind": "health",
        "event_time": "2026-11-27T10:00:00Z",
        "device_id": "WS-1",
        "agent_version": "2.1.0",
        "cpu_percent": 1.5,
        "memory_bytes": 1,
    },
}
