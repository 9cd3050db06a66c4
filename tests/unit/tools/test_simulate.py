from datetime import UTC, date

import orjson

from streams.pipeline.decode.agent import decode_agent_usage
from streams.tools.simulate import simulate_day
from tests.unit.helpers import record


def test_same_seed_same_traffic():
    assert simulate_day(3, 5, date(2026, 11, 27)).messages == simulate_day(3, 5, date(2026, 11, 27)).messages


def test_simulated_traffic_is_valid_and_follows_a_working_day():
    traffic = simulate_day(7, 12, date(2026, 11, 27))
    events = [e for key, value in traffic.messages for e in decode_agent_usage(record(value)).events]
    assert len(events) == traffic.events
    assert all(key.startswith(b"WS-") for key, _ in traffic.messages)
    assert len({e.device_id for e in events}) == 12
    local_hours = {e.event_time.astimezone(orjson_zone(e)).hour for e in events[:50]}
    assert local_hours  # events exist
    active_at_night = [e for e in events if e.active_seconds and not 7 <= _local_hour(e) <= 20]
    assert active_at_night == []
    assert traffic.first_event.tzinfo == UTC


def _local_hour(event):
    return event.event_time.astimezone(orjson_zone(event)).hour


def orjson_zone(event):
    from streams.tools.simulate import ZONES

    return ZONES[int(event.device_id.split("-")[1]) % len(ZONES)]


def test_envelopes_and_single_events_both_occur():
    traffic = simulate_day(7, 20, date(2026, 11, 27))
    kinds = {"events" in orjson.loads(value) for _, value in traffic.messages}
    assert kinds == {True, False}
