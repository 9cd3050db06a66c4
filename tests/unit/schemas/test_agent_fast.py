"""The msgspec reading of agent messages never accepts what the pydantic models refuse, and
reads what it accepts into the same normalized events."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.agent import AgentUsageEnvelope, AgentUsageEvent
from schemas.agent_fast import FastUsageEvent
from schemas.records import SourceRecord
from streams.pipeline.decode.agent import _decode_valid_usage, decode_agent_usage, to_usage_event

TIMES = st.sampled_from(
    [
        "2026-03-02T10:00:00Z",
        "2026-03-02T10:00:00.123456Z",
        "2026-03-02T10:00:00.1234567Z",
        "2026-03-02T10:00:00.9999995Z",
        "2026-03-02T10:00:00+02:00",
        "2026-03-02T10:00:00-05:30",
        "2026-03-02 10:00:00Z",
        "2026-03-02t10:00:00z",
        "2026-03-02T10:00Z",
        "2026-03-02T10:00:00",
        "2026-03-02",
        "1970-06-01T00:00:00Z",
        "1971-01-01T00:00:00Z",
        "2099-12-31T23:59:59Z",
        "2099-12-31T23:59:59.5Z",
        "2100-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "2026-02-30T10:00:00Z",
        "2026-03-02T24:00:00Z",
        "2026-03-02T10:00:60Z",
        "",
    ]
) | st.integers(min_value=0, max_value=5_000_000_000)
NUMBERS = st.one_of(
    st.sampled_from([0, 0.0, -0.0, 1, 30, 60, 60.5, 604_800, 604_800.0001, -1, 1e300, True, False, "30", None]),
    st.floats(min_value=-10, max_value=700_000, allow_nan=False),
)
TEXT = st.one_of(
    st.sampled_from(["", "a", "x" * 256, "x" * 257, " ", "naïve", "\u0000", "é" * 256, 5, None]),
    st.text(max_size=8),
)
SHA = st.sampled_from(["a" * 64, "A" * 63 + "0", "g" * 64, "a" * 63, "a" * 64 + "\n", "a" * 65, None, 7])
KINDS = st.sampled_from(["start", "sample", "stop", "health", "Sample", "", 3])
GOOD_TIMES = st.sampled_from(["2026-03-02T10:00:00Z", "2026-03-02T10:00:00.25+02:00", "2026-03-01T23:59:59.999Z"])
GOOD_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
OPTIONAL = st.sampled_from(["session_type", "environment", "originating_user", "device_group", "device_timezone"])


def mostly(valid: st.SearchStrategy[object], odd: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Valid values nine times in ten: the readings must agree on valid input above all."""
    return st.integers(0, 9).flatmap(lambda n: valid if n else odd)


@st.composite
def executables(draw: st.DrawFn) -> object:
    item: dict[str, object] = {"path": draw(mostly(GOOD_TEXT, TEXT)), "file_name": draw(mostly(GOOD_TEXT, TEXT))}
    for name in ("publisher", "product_name", "version"):
        if draw(st.booleans()):
            item[name] = draw(mostly(GOOD_TEXT, TEXT))
    if draw(st.booleans()):
        item["sha256"] = draw(mostly(st.just("0123456789abcdef" * 4), SHA))
    if draw(st.integers(0, 20)) == 0:
        item["extra"] = 1
    return item if draw(st.integers(0, 30)) else draw(st.sampled_from([None, "app.exe", []]))


@st.composite
def usage_events(draw: st.DrawFn) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": draw(mostly(GOOD_TEXT, TEXT)),
        "event_time": draw(mostly(GOOD_TIMES, TIMES)),
        "device_id": draw(mostly(GOOD_TEXT, TEXT)),
        "user": draw(mostly(GOOD_TEXT, TEXT)),
        "executable": draw(executables()),
        "kind": draw(mostly(st.sampled_from(["start", "sample", "stop"]), KINDS)),
    }
    event["interval_seconds"] = draw(mostly(st.sampled_from([60, 90.5, 604_800]), NUMBERS))
    for name in ("active_seconds", "idle_seconds"):
        if draw(st.booleans()):
            event[name] = draw(mostly(st.sampled_from([0, 10, 30.5]), NUMBERS))
    if draw(st.integers(0, 3)) == 0:
        event["schema_version"] = draw(mostly(st.just(2), st.sampled_from([1, 3, "2", 2.0, True])))
    for name in draw(st.lists(OPTIONAL, max_size=3, unique=True)):
        good = {"session_type": st.sampled_from(["console", "remote"]), "environment": st.just("production")}
        odd = st.sampled_from(["rdp", "", None, 1, "x" * 257])
        event[name] = draw(mostly(good.get(name, GOOD_TEXT), odd))
    if draw(st.integers(0, 20)) == 0:
        event["unknown_field"] = "x"
    if draw(st.integers(0, 20)) == 0:
        del event[draw(st.sampled_from(sorted(event)))]
    return event


def _pydantic(raw: bytes) -> list[AgentUsageEvent] | None:
    try:
        if b'"events"' in raw:
            return list(AgentUsageEnvelope.model_validate_json(raw).events)  # type: ignore[arg-type]
        return [AgentUsageEvent.model_validate_json(raw)]
    except ValidationError:
        return None


def _same_reading(raw: bytes) -> None:
    fast = _decode_valid_usage(raw)
    if fast is None:
        return
    slow = _pydantic(raw)
    assert slow is not None, f"msgspec accepted what pydantic refuses: {raw!r}"
    assert [to_usage_event(e, "agent", at) for e, at in fast] == [
        to_usage_event(e, "agent", e.event_time) for e in slow
    ]


@settings(max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(usage_events())
def test_a_single_event_is_read_alike_or_left_to_pydantic(event: dict[str, object]) -> None:
    _same_reading(orjson.dumps(event))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(usage_events(), min_size=0, max_size=4), st.sampled_from([None, 1, 2, "2"]))
def test_an_envelope_is_read_alike_or_left_to_pydantic(events: list[dict[str, object]], version: object) -> None:
    envelope: dict[str, object] = {"events": events}
    if version is not None:
        envelope["schema_version"] = version
    _same_reading(orjson.dumps(envelope))


def _valid() -> dict[str, object]:
    return {
        "event_id": "e-1",
        "event_time": "2026-03-02T10:00:00+02:00",
        "device_id": "d-1",
        "user": "alice",
        "executable": {"path": "C:/x/excel.exe", "file_name": "excel.exe"},
        "kind": "sample",
        "interval_seconds": 60,
        "active_seconds": 30,
    }


def test_valid_version_two_usage_takes_the_fast_reading_in_utc() -> None:
    fast = _decode_valid_usage(orjson.dumps({"events": [_valid(), _valid()]}))
    assert fast is not None and len(fast) == 2
    assert isinstance(fast[0][0], FastUsageEvent)
    event = to_usage_event(fast[0][0], "agent", fast[0][1])
    assert event.event_time.isoformat() == "2026-03-02T08:00:00+00:00"


def test_raw_json_text_the_encoder_cannot_write_is_read_alike_too() -> None:
    body = orjson.dumps(_valid()).decode()
    for swap in ('"alice"', '"al\\ud800ice"', '"al\\u0000ice"', '"\\u00e9"', '"a"   ', '"alice", "user": "bob"'):
        _same_reading(body.replace('"alice"', swap).encode())


def test_whatever_the_fast_reading_refuses_keeps_pydantic_s_reason() -> None:
    item = _valid() | {"active_seconds": 90}
    decoded = decode_agent_usage(SourceRecord("agent", 0, 0, orjson.dumps({"events": [_valid(), item]}), b"d"))
    assert len(decoded.events) == 1
    assert "exceed interval_seconds" in decoded.rejections[0].reason
    version_one = orjson.dumps(_valid() | {"schema_version": 1})
    assert _decode_valid_usage(version_one) is None
    assert len(decode_agent_usage(SourceRecord("agent", 0, 1, version_one, b"d")).events) == 1
