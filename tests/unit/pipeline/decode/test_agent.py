from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.usage import Environment, SessionType, UsageSource
from streams.pipeline.decode.agent import SizeLimits, decode_agent_usage
from streams.pipeline.decode.opening import STAGE
from tests.unit.helpers import agent_event, agent_fixtures, json_values, record


@pytest.mark.parametrize("path", agent_fixtures(), ids=lambda p: p.stem)
def test_every_agent_fixture_decodes_without_rejections(path):
    decoded = decode_agent_usage(record(path.read_bytes()))
    assert decoded.rejections == []
    assert decoded.events
    assert all(e.event_time.tzinfo == UTC for e in decoded.events)


@pytest.mark.parametrize(
    ("given_time", "expected_utc"),
    [
        pytest.param("2026-11-27T10:01:00+01:00", datetime(2026, 11, 27, 9, 1, tzinfo=UTC), id="plus one hour"),
        pytest.param("2026-11-27T04:01:00-05:00", datetime(2026, 11, 27, 9, 1, tzinfo=UTC), id="minus five hours"),
        pytest.param("2026-11-27T14:31:00+05:30", datetime(2026, 11, 27, 9, 1, tzinfo=UTC), id="half-hour zone"),
        pytest.param("2026-11-27T09:01:00Z", datetime(2026, 11, 27, 9, 1, tzinfo=UTC), id="zulu"),
    ],
)
def test_event_time_is_normalized_to_utc(given_time, expected_utc):
    decoded = decode_agent_usage(record(agent_event(event_time=given_time)))
    assert decoded.events[0].event_time == expected_utc
    assert decoded.events[0].event_time.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("payload", "reason_part"),
    [
        pytest.param(b"{not json", "not valid JSON", id="broken json"),
        pytest.param(b"[1, 2]", "expected a JSON object", id="json array"),
        pytest.param(agent_event(event_time="2026-11-27T10:01:00"), "event_time", id="naive timestamp"),
        pytest.param(agent_event(kind="resume"), "kind", id="unknown kind"),
        pytest.param(agent_event(schema_version=9), "schema_version", id="unknown schema version"),
        pytest.param(agent_event(active_seconds=-1), "active_seconds", id="negative active time"),
        pytest.param(
            agent_event(active_seconds=50, idle_seconds=50), "exceed interval_seconds", id="overfull interval"
        ),
        pytest.param(agent_event(extra="x"), "extra", id="unknown field"),
        pytest.param({"events": []}, "non-empty list", id="empty envelope"),
        pytest.param({"events": [agent_event()], "device": "x"}, "unknown fields", id="envelope with unknown field"),
        pytest.param({"events": [agent_event()], "schema_version": 3}, "unsupported", id="envelope version"),
        pytest.param(agent_event(schema_version=1, session_type="rdp"), "need schema_version 2", id="v2 field in v1"),
        pytest.param(agent_event(session_type="teleport"), "session_type", id="unknown session type"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(payload, reason_part):
    decoded = decode_agent_usage(record(payload))
    assert decoded.events == []
    [rejection] = decoded.rejections
    assert rejection.stage == STAGE
    assert reason_part in rejection.reason


def test_one_bad_event_in_an_envelope_costs_only_itself():
    envelope = {"events": [agent_event(event_id="a"), agent_event(event_id="b", kind="?"), agent_event(event_id="c")]}
    decoded = decode_agent_usage(record(envelope))
    assert [e.event_id for e in decoded.events] == ["a", "c"]
    [rejection] = decoded.rejections
    assert rejection.item_index == 1
    assert rejection.reason.startswith("events[1]: kind")
    assert b'"event_id":"b"' in rejection.payload


def test_reasons_never_echo_the_offending_values():
    decoded = decode_agent_usage(record(agent_event(user="", kind="SECRET-VALUE-XYZ")))
    assert "SECRET-VALUE-XYZ" not in decoded.rejections[0].reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_end_valid_or_rejected_never_raise(raw):
    decoded = decode_agent_usage(record(raw))
    assert decoded.events or decoded.rejections
    assert all(r.reason for r in decoded.rejections)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(agent_event()) + ["events"]), json_values, max_size=12))
def test_arbitrary_json_objects_end_valid_or_rejected(document):
    decoded = decode_agent_usage(record(document))
    assert decoded.events or decoded.rejections


def test_version_1_events_are_read_as_version_2_with_unknowns():
    [event] = decode_agent_usage(record(agent_event(schema_version=1))).events
    assert event.session_type is SessionType.UNKNOWN
    assert event.environment is Environment.UNKNOWN
    assert event.source is UsageSource.AGENT


def test_remote_session_is_attributed_to_the_person_who_connected():
    payload = agent_event(session_type="rdp", originating_user="CORP\\remote.person", user="svc-terminal")
    [event] = decode_agent_usage(record(payload)).events
    assert event.session_type is SessionType.RDP
    assert event.attributed_user == "CORP\\remote.person"


@pytest.mark.parametrize(
    ("payload", "limits", "reason_part", "valid_left"),
    [
        pytest.param(agent_event(), SizeLimits(max_message_bytes=100), "exceeds 100", 0, id="message too large"),
        pytest.param(
            {"events": [agent_event(), agent_event(user="x" * 200)]},
            SizeLimits(max_event_bytes=400),
            "events[1]: event of",
            1,
            id="one event too large in an envelope",
        ),
    ],
)
def test_size_limits_dead_letter_only_what_is_too_large(payload, limits, reason_part, valid_left):
    decoded = decode_agent_usage(record(payload), limits)
    [rejection] = decoded.rejections
    assert reason_part in rejection.reason
    assert len(decoded.events) == valid_left


def test_health_events_are_read_apart_from_usage():
    envelope = {
        "events": [
            agent_event(),
            {"event_id": "h1", "kind": "health", "event_time": "2026-11-27T10:00:00+01:00", "device_id": "WS-1",
             "agent_version": "1.0", "cpu_percent": 1.5, "memory_bytes": 1024},
        ]
    }  # fmt: skip
    decoded = decode_agent_usage(record(envelope))
    assert len(decoded.events) == 1
    [health] = decoded.health
    assert health.device_id == "WS-1" and health.event_time.utcoffset().total_seconds() == 0


def test_a_bad_health_event_is_rejected_with_its_own_reason():
    bad = {"event_id": "h1", "kind": "health", "event_time": "2026-11-27T10:00:00Z", "device_id": "WS-1"}
    decoded = decode_agent_usage(record({"events": [agent_event(), bad]}))
    assert len(decoded.events) == 1 and decoded.health == []
    [rejection] = decoded.rejections
    assert rejection.reason.startswith("events[1]: agent_version")


def test_an_unknown_key_that_could_be_an_identity_is_not_named():
    payload = agent_event()
    payload["CORP\\Rare.Person"] = 1
    [rejection] = decode_agent_usage(record(payload)).rejections
    assert "Rare.Person" not in rejection.reason
    assert "(unnamed field): Extra inputs are not permitted" in rejection.reason
